"""SSHRunner against real OpenSSH servers on 127.0.0.1: a bastion and a target (both this
machine), reached as operators do, through ~/.ssh/config aliases, ProxyJump and ssh-agent."""

import os
import re
import subprocess
import time

import paramiko
import pytest

from tests import sshd
from xenaccept.errors import HarnessError, HostKeyError
from xenaccept.transport.ssh import SSHRunner
from xenaccept.model.ssh import SSHSpec

pytestmark = pytest.mark.skipif(not sshd.available(),
                                reason=f"no OpenSSH server at {sshd.SSHD} (make setup installs it)")


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    d = tmp_path_factory.mktemp("sshd")
    with sshd.Sshd(d / "bastion", name="bastion") as b, sshd.Sshd(d / "target", name="target") as t:
        yield b, t


@pytest.fixture
def bastion(servers):
    return servers[0]


@pytest.fixture
def target(servers):
    return servers[1]


def config(tmp_path, bastion, target, known_hosts, *, keys=True, extra="") -> str:
    """An ssh_config as an operator writes it: two aliases, the target behind the bastion."""
    def key(s):
        return f"  IdentityFile {s.client_key}\n" if keys else ""
    p = tmp_path / "ssh_config"
    p.write_text(f"Host bastion\n  HostName {bastion.host}\n  Port {bastion.port}\n{key(bastion)}"
                 f"  UserKnownHostsFile {known_hosts}\n{extra}"
                 f"Host target\n  HostName {target.host}\n  Port {target.port}\n{key(target)}"
                 f"  UserKnownHostsFile {known_hosts}\n  ProxyJump bastion\n{extra}")
    return str(p)


def forwards(bastion, target) -> int:
    """How many direct-tcpip forwards to the target the bastion has opened so far."""
    return bastion.log_text().count(
        f"server_request_direct_tcpip: originator  port 0, target {target.host} port {target.port}")


def ancestors(pid: int) -> list[int]:
    chain = []
    while pid > 1:
        chain.append(pid)
        stat = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        pid = int(stat[1])
    return chain


def test_an_alias_with_proxyjump_goes_through_the_bastion(tmp_path, bastion, target):
    kh = tmp_path / "known_hosts"
    bastion.write_known_hosts(kh, hashed=True)   # |1|salt|hash form
    target.write_known_hosts(kh)                 # [127.0.0.1]:port form
    before = forwards(bastion, target)
    r = SSHRunner("t", SSHSpec(host="target", ssh_config=config(tmp_path, bastion, target, kh)),
                  read_only=True)
    try:
        res = r.run("sh", "-c", 'echo "$SSH_CONNECTION"')
        assert res.ok
        assert [h.name for h in r.hops] == ["bastion", "target"]
        assert r.connects == 1
        # the bastion opened a forward to the target ...
        assert forwards(bastion, target) == before + 1
        # ... and the TCP connection the target sees comes from the bastion's sshd, not
        # from this process
        client_port = res.stdout.split()[1]
        ss = subprocess.run(["ss", "-Htnp", "state", "established", f"( sport = :{client_port} )"],
                            capture_output=True, text=True, check=True).stdout
        owners = {int(p) for p in re.findall(r"pid=(\d+)", ss)}
        assert owners and os.getpid() not in owners
        assert all(bastion.proc.pid in ancestors(p) for p in owners), ss
        # every hop is a fabric Connection with our client: the gateway of the target is the
        # bastion's connection, and both refuse unknown keys
        gw, conn = r._chain
        assert conn.gateway is gw
        assert all(isinstance(c.client._policy, paramiko.RejectPolicy) for c in (gw, conn))
    finally:
        r.close()
    assert not gw.is_connected and not conn.is_connected


def test_the_suites_own_jump_host_works_too(tmp_path, bastion, target):
    kh = tmp_path / "known_hosts"
    bastion.write_known_hosts(kh)
    target.write_known_hosts(kh)
    jump = SSHSpec(bastion.host, port=bastion.port, key_file=str(bastion.client_key),
                   known_hosts=str(kh), ssh_config="")
    spec = SSHSpec(target.host, port=target.port, key_file=str(target.client_key),
                   known_hosts=str(kh), ssh_config="", jump=jump)
    before = forwards(bastion, target)
    r = SSHRunner("drvdom", spec, read_only=True)
    try:
        assert r.wait_reachable(timeout=10) < 10  # no banner probe behind a jump
        assert r.run("true").ok and r.connects == 1
        assert forwards(bastion, target) == before + 1
    finally:
        r.close()


def test_an_unknown_target_key_is_refused_naming_the_target(tmp_path, bastion, target):
    kh = bastion.write_known_hosts(tmp_path / "known_hosts")
    r = SSHRunner("t", SSHSpec("target", ssh_config=config(tmp_path, bastion, target, kh)),
                  read_only=True)
    with pytest.raises(HostKeyError, match=rf"^t \(root@127.0.0.1:{target.port} via bastion\): "
                                           r"host key UNKNOWN"):
        r.run("true")
    assert r.connects == 0 and r._chain == []


def test_a_changed_bastion_key_is_refused_naming_the_bastion(tmp_path, bastion, target):
    kh = tmp_path / "known_hosts"
    bastion.write_known_hosts(kh, key_line=target.host_key_line)  # another key under its name
    target.write_known_hosts(kh)
    logins = target.log_text().count("Accepted publickey")
    r = SSHRunner("t", SSHSpec("target", ssh_config=config(tmp_path, bastion, target, kh)),
                  read_only=True)
    with pytest.raises(HostKeyError, match=rf"^t via bastion \(root@127.0.0.1:{bastion.port}\): "
                                           r"host key CHANGED"):
        r.run("true")
    assert target.log_text().count("Accepted publickey") == logins


def test_an_unknown_bastion_key_is_refused_naming_the_bastion(tmp_path, bastion, target):
    """fabric opens the gateway itself: this proves it uses our client (RejectPolicy, our
    known_hosts) for the bastion, not one of its own (AutoAddPolicy)."""
    kh = target.write_known_hosts(tmp_path / "known_hosts")
    before = forwards(bastion, target)
    r = SSHRunner("t", SSHSpec("target", ssh_config=config(tmp_path, bastion, target, kh)),
                  read_only=True)
    with pytest.raises(HostKeyError, match=rf"^t via bastion \(root@127.0.0.1:{bastion.port}\): "
                                           rf"host key UNKNOWN, refusing .*\(not in {kh}\)"):
        r.run("true")
    assert forwards(bastion, target) == before


def test_a_target_the_bastion_cannot_reach_is_unreachable_from_the_bastion(tmp_path, bastion):
    kh = bastion.write_known_hosts(tmp_path / "known_hosts")
    port = sshd.free_port()  # nothing listens there
    jump = SSHSpec(bastion.host, port=bastion.port, key_file=str(bastion.client_key),
                   known_hosts=str(kh), ssh_config="")
    r = SSHRunner("drvdom", SSHSpec("127.0.0.1", port=port, key_file=str(kh), known_hosts=str(kh),
                                    ssh_config="", jump=jump), read_only=True)
    via = f"127.0.0.1:{bastion.port}"
    with pytest.raises(HarnessError, match=rf"^drvdom \(root@127.0.0.1:{port} via {via}\): "
                                           rf"unreachable from {via}: .*Connect failed"):
        r.run("true")
    assert not r.reachable


@pytest.fixture
def agent(tmp_path, monkeypatch, bastion, target):
    """A real ssh-agent holding both client keys; SSH_AUTH_SOCK points at it."""
    sock = tmp_path / "agent.sock"
    proc = subprocess.Popen(["ssh-agent", "-D", "-a", str(sock)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while not sock.exists():
            assert proc.poll() is None and time.monotonic() < deadline, "ssh-agent did not start"
            time.sleep(0.02)
        env = dict(os.environ, SSH_AUTH_SOCK=str(sock))
        for key in (bastion.client_key, target.client_key):
            subprocess.run(["ssh-add", "-q", str(key)], env=env, check=True, timeout=10,
                           capture_output=True)
        monkeypatch.setenv("SSH_AUTH_SOCK", str(sock))
        yield sock
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def test_the_agent_logs_in_when_no_key_is_given(tmp_path, home, agent, bastion, target):
    kh = home / ".ssh" / "known_hosts"   # the default known_hosts
    bastion.write_known_hosts(kh)
    target.write_known_hosts(kh)
    cfg = home / ".ssh" / "config"       # the default ssh_config
    cfg.write_text(f"Host bastion\n  HostName {bastion.host}\n  Port {bastion.port}\n"
                   f"Host target\n  HostName {target.host}\n  Port {target.port}\n"
                   "  ProxyJump bastion\n")
    r = SSHRunner("t", SSHSpec("target"), read_only=True)
    try:
        assert all(h.allow_agent and h.key_files == () for h in r.hops)
        assert r.run("true").ok
    finally:
        r.close()
    # IdentitiesOnly: no agent, and no key given: refused
    cfg.write_text(cfg.read_text() + "Host *\n  IdentitiesOnly yes\n")
    r = SSHRunner("t", SSHSpec("target"), read_only=True)
    with pytest.raises(HarnessError, match=r"^t via bastion .*: SSH failed"):
        r.run("true")
