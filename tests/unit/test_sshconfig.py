"""SSHSpec -> hops, from small ssh_config texts (no network)."""

import pytest

from xenaccept.errors import InventoryError
from xenaccept.model.ssh import SSHSpec
from xenaccept.transport.sshconfig import resolve


def conf(home, text: str) -> str:
    p = home / "cfg"
    p.write_text(text)
    return str(p)


def key(path) -> str:
    path.write_text("not a real key\n")
    return str(path)


def test_an_alias_takes_hostname_user_port_and_identity_from_the_config(home):
    k = key(home / "k1")
    c = conf(home, f"Host xen1\n  HostName 10.0.0.5\n  User admin\n  Port 2222\n"
                   f"  IdentityFile {k}\n  IdentityFile ~/missing\n")
    (hop,) = resolve(SSHSpec("xen1", ssh_config=c))
    assert (hop.name, hop.hostname, hop.port, hop.user) == ("xen1", "10.0.0.5", 2222, "admin")
    assert hop.key_files == (k,)  # missing identities are skipped, as ssh does
    assert hop.allow_agent
    assert hop.address == "admin@10.0.0.5:2222"


def test_explicit_fields_win_and_an_explicit_key_means_that_key_only(home):
    c = conf(home, "Host xen1\n  HostName 10.0.0.5\n  User admin\n  Port 2222\n"
                   "  IdentityFile ~/.ssh/other\n  UserKnownHostsFile ~/kh_config\n")
    (hop,) = resolve(SSHSpec("xen1", port=22, user="root", key_file="~/k",
                             known_hosts="~/kh", ssh_config=c, connect_timeout=3))
    assert (hop.hostname, hop.port, hop.user) == ("10.0.0.5", 22, "root")
    assert hop.key_files == (str(home / "k"),)
    assert not hop.allow_agent
    assert hop.known_hosts == (str(home / "kh"),)
    assert hop.connect_timeout == 3


def test_wildcard_blocks_apply_after_specific_ones_first_value_wins(home):
    c = conf(home, "Host xen*\n  User ops\n  Port 2200\nHost xen2\n  Port 22\n"
                   "Host *\n  User nobody\n  HostName %h.lab.example\n")
    (hop,) = resolve(SSHSpec("xen2", ssh_config=c))
    assert (hop.hostname, hop.port, hop.user) == ("xen2.lab.example", 2200, "ops")


def test_defaults_without_config_root_port_22_default_keys_and_known_hosts(home, monkeypatch):
    k = key(home / ".ssh" / "id_ecdsa")
    (hop,) = resolve(SSHSpec("192.0.2.7", ssh_config=""))
    assert (hop.hostname, hop.port, hop.user) == ("192.0.2.7", 22, "root")
    assert hop.key_files == (k,)
    assert hop.allow_agent
    assert hop.known_hosts[0] == str(home / ".ssh" / "known_hosts")


def test_user_config_is_read_by_default_and_empty_string_means_none(home):
    (home / ".ssh" / "config").write_text("Host xen1\n  HostName 10.0.0.5\n")
    assert resolve(SSHSpec("xen1"))[0].hostname == "10.0.0.5"
    assert resolve(SSHSpec("xen1", ssh_config=""))[0].hostname == "xen1"


def test_a_missing_explicit_config_is_an_error(home):
    with pytest.raises(InventoryError, match="no such file"):
        resolve(SSHSpec("xen1", ssh_config=str(home / "nope")))


def test_known_hosts_from_user_known_hosts_file_with_tilde(home):
    c = conf(home, "Host xen1\n  UserKnownHostsFile ~/a ~/b\n")
    assert resolve(SSHSpec("xen1", ssh_config=c))[0].known_hosts[:2] == \
        (str(home / "a"), str(home / "b"))


def test_identities_only_disables_the_agent(home):
    k = key(home / "k")
    c = conf(home, f"Host xen1\n  IdentityFile {k}\n  IdentitiesOnly yes\n")
    (hop,) = resolve(SSHSpec("xen1", ssh_config=c))
    assert hop.key_files == (k,) and not hop.allow_agent


def test_proxyjump_resolves_the_jump_through_its_own_block(home):
    kb, kt = key(home / "kb"), key(home / "kt")
    c = conf(home, f"Host bastion\n  HostName 127.0.0.1\n  Port 2201\n  User jump\n"
                   f"  IdentityFile {kb}\n"
                   f"Host target\n  HostName 10.0.0.9\n  IdentityFile {kt}\n"
                   f"  ProxyJump bastion\n")
    b, t = resolve(SSHSpec("target", ssh_config=c))
    assert (b.name, b.address, b.key_files) == ("bastion", "jump@127.0.0.1:2201", (kb,))
    assert (t.name, t.address, t.key_files) == ("target", "root@10.0.0.9:22", (kt,))


def test_proxyjump_chain_with_user_and_port_and_the_first_jumps_own_proxyjump(home):
    c = conf(home, "Host outer\n  HostName 198.51.100.1\n"
                   "Host a\n  HostName 10.1.0.1\n  ProxyJump outer\n"
                   "Host b\n  HostName 10.2.0.1\n  ProxyJump ignored.example\n"
                   "Host target\n  HostName 10.3.0.1\n  ProxyJump ops@a:2022,b\n")
    hops = resolve(SSHSpec("target", ssh_config=c))
    assert [h.name for h in hops] == ["outer", "a", "b", "target"]
    assert hops[1].address == "ops@10.1.0.1:2022"


def test_proxyjump_none_and_proxycommand_none(home):
    c = conf(home, "Host direct\n  ProxyJump none\nHost plain\n  ProxyCommand none\n"
                   "Host *\n  ProxyJump bastion.example\n")
    assert [h.name for h in resolve(SSHSpec("direct", ssh_config=c))] == ["direct"]
    assert [h.name for h in resolve(SSHSpec("plain", ssh_config=c))] == ["plain"]


def test_the_suite_jump_comes_first_before_the_targets_own_proxyjump(home):
    c = conf(home, "Host drvdom\n  HostName 10.0.0.2\n  ProxyJump 192.0.2.1\n")
    dom0 = SSHSpec("198.51.100.7", port=2201, ssh_config="")
    hops = resolve(SSHSpec("drvdom", ssh_config=c, jump=dom0))
    assert [h.address for h in hops] == ["root@198.51.100.7:2201", "root@192.0.2.1:22",
                                         "root@10.0.0.2:22"]


def test_a_proxyjump_loop_is_refused(home):
    c = conf(home, "Host a\n  ProxyJump b\nHost b\n  ProxyJump a\n")
    with pytest.raises(InventoryError, match="ProxyJump loop: a -> b -> a"):
        resolve(SSHSpec("a", ssh_config=c))
    # a wildcard block that also matches the jump host itself: ssh refuses it too
    c = conf(home, "Host bastion\n  HostName 10.0.0.1\nHost *\n  ProxyJump bastion\n")
    with pytest.raises(InventoryError, match="ProxyJump loop: x.example -> bastion -> bastion"):
        resolve(SSHSpec("x.example", ssh_config=c))


def test_an_unknown_proxyjump_host_is_refused(home):
    c = conf(home, "Host bastion\n  HostName 127.0.0.1\nHost target\n  ProxyJump bastoin\n")
    with pytest.raises(InventoryError, match="Host target: ProxyJump: unknown host 'bastoin'"):
        resolve(SSHSpec("target", ssh_config=c))


def test_proxycommand_is_refused_with_a_hint(home):
    c = conf(home, "Host target\n  ProxyCommand ssh -W %h:%p bastion\n")
    with pytest.raises(InventoryError, match="ProxyCommand is not supported.*use ProxyJump"):
        resolve(SSHSpec("target", ssh_config=c))


def test_the_first_of_proxyjump_and_proxycommand_wins(home):
    c = conf(home, "Host target\n  ProxyJump 127.0.0.1\n  ProxyCommand nc %h %p\n")
    assert len(resolve(SSHSpec("target", ssh_config=c))) == 2
    c = conf(home, "Host target\n  ProxyCommand nc %h %p\n  ProxyJump 127.0.0.1\n")
    with pytest.raises(InventoryError, match="ProxyCommand"):
        resolve(SSHSpec("target", ssh_config=c))


@pytest.mark.parametrize("text, field", [
    ("Host x\n  HostName a;reboot\n", "Host x: HostName: 'a;reboot'"),
    ("Host x\n  User 'r r'\n", "Host x: User"),
    ("Host x\n  Port 99999\n", "Host x: Port: 99999"),
    ("Host x\n  Port twenty\n", "Host x: Port: 'twenty'"),
    ("Host x\n  ProxyJump $(reboot)\n", "Host x: ProxyJump"),
])
def test_values_used_are_validated_naming_host_and_setting(home, text, field):
    with pytest.raises(InventoryError, match=field.replace("(", r"\(").replace(")", r"\)")):
        resolve(SSHSpec("x", ssh_config=conf(home, text)))


def test_top_level_include_is_read(home):
    (home / ".ssh" / "lab.conf").write_text("Host lab\n  HostName 10.9.9.9\n")
    c = conf(home, "Include ~/.ssh/*.conf\nUser ops\nHost other\n  HostName 10.0.0.1\n")
    (hop,) = resolve(SSHSpec("lab", ssh_config=c))
    assert (hop.hostname, hop.user) == ("10.9.9.9", "ops")  # User is global, not in lab's block
    assert resolve(SSHSpec("other", ssh_config=c))[0].user == "ops"
    c = conf(home, "Host other\n  Include lab.conf\n")
    with pytest.raises(InventoryError, match="Include inside a Host"):
        resolve(SSHSpec("lab", ssh_config=c))


def test_explicit_values_are_validated_too_naming_the_spec(home):
    with pytest.raises(InventoryError, match="ssh x: port: 0 is not a TCP port"):
        resolve(SSHSpec("x", port=0, ssh_config=""))
    with pytest.raises(InventoryError, match="ssh x: user: 'r;m' is not a user name"):
        resolve(SSHSpec("x", user="r;m", ssh_config=""))
    with pytest.raises(InventoryError, match="ssh x: jump 2.0 is not an SSHSpec"):
        resolve(SSHSpec("x", jump=2.0))  # type: ignore[arg-type]
