"""The acceptance suite against the lab, as an operator runs it."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from xenaccept.transport.ssh import SSHRunner

from .conftest import INVENTORY, ROOT, RUNS, dom0_state, dump, run_suite, xenlab

pytestmark = pytest.mark.lab

SCENARIOS = sum(line.strip().startswith("Scenario:")
                for f in (ROOT / "features").glob("*.feature") for line in f.read_text().splitlines())


ISOLATION = "test_restarting_the_driver_domain_while_the_guests_run"
CRASH = "test_the_driver_domains_kernel_crashes_while_the_guests_run"
DEVD_DOWN = "test_a_guest_started_while_xl_devd_is_down_is_plugged_once_the_daemon_runs"
NO_ISOLATION = ("-m", "not isolation")  # runs that need not restart the driver domain
PERSIST = "test_the_setup_comes_back_after_the_host_reboots"
NEXT_BOOT = "test_the_permanent_setup_will_come_back_at_the_next_boot"
PROBE = "test_xl_devd_plugs_a_new_vif_into_the_bridge_and_unplugs_it"
WHY_SKIPPED = {ISOLATION: "runs with --provision only", PERSIST: "runs with --persist only",
               PROBE: "runs with --provision only", NEXT_BOOT: "runs with --persist only",
               CRASH: "runs with --provision only", DEVD_DOWN: "runs with --provision only"}
SPECIAL = 6  # scenarios that run only with --provision or --persist (or on a permanent setup)
PERMANENT = 2  # of them, those check mode runs on a permanent setup (the boot now, the next)
LAN_SCENARIOS = sum(line.strip().startswith("Scenario:") for line in
                    (ROOT / "features" / "7_traffic_lan.feature").read_text().splitlines())


def all_passed(run, *, isolation: str = "passed", persist: str = "skipped",
               lan: str = "passed") -> None:
    """Every scenario passed; the isolation scenarios (a restart, a crash, xl devd down) as
    said: "passed", "skipped" (check mode: they restart domains) or "deselected" (left out
    with NO_ISOLATION); the
    reboot scenarios (the boot now, and the next one) "skipped" (without --persist) or
    "passed"; the probe (a test vif plugged) passed, or skipped in check mode (said by
    isolation="skipped")."""
    assert run.returncode == 0, run.output[-5000:]
    probe = "skipped" if isolation == "skipped" else "passed"
    special = {ISOLATION: isolation, CRASH: isolation, DEVD_DOWN: isolation, PERSIST: persist,
               NEXT_BOOT: persist, PROBE: probe}
    rest = {n: o for n, o in run.outcomes.items() if not n.startswith(tuple(special))}
    lan_left_out = LAN_SCENARIOS if lan == "deselected" else 0  # `-m "not lan"`
    assert len(rest) == SCENARIOS - SPECIAL - lan_left_out, run.outcomes
    assert set(rest.values()) == {"passed"}, run.messages
    for prefix, want in special.items():
        got = {n: o for n, o in run.outcomes.items() if n.startswith(prefix)}
        if want == "deselected":
            assert not got, got
            continue
        assert list(got.values()) == [want], (got, run.messages)
        if want == "skipped" and prefix in (ISOLATION, CRASH, DEVD_DOWN, PROBE):
            [name] = got
            assert WHY_SKIPPED[prefix] in run.messages[name], run.messages[name]


def boot_id(lab) -> str:
    r = lab.dom0()
    try:
        return r.out("cat", "/proc/sys/kernel/random/boot_id").strip()
    finally:
        r.close()


# what a permanent setup may change in Dom0, read independently of the suite: every file
# by content, every link by target
BOOT_PATHS = ("/boot", "/etc/default", "/etc/initramfs-tools", "/etc/kernel", "/etc/modprobe.d",
              "/etc/systemd/system", "/etc/xen", "/var/lib/xenaccept")


def boot_files(lab) -> dict[str, str]:
    r = lab.dom0()
    try:
        out = r.out("sh", "-c", 'find "$@" -type f -exec sha256sum {} + 2>/dev/null; '
                    'find "$@" -type l -printf "%l  %p\\n" 2>/dev/null; true', "sh",
                    *BOOT_PATHS, timeout=300)
    finally:
        r.close()
    return {path: digest for digest, _, path in
            (line.partition("  ") for line in out.splitlines()) if path}


def changed(a: dict[str, str], b: dict[str, str]) -> str:
    return "\n".join(f"{p}: {a.get(p, '(absent)')} -> {b.get(p, '(absent)')}"
                     for p in sorted(set(a) | set(b)) if a.get(p) != b.get(p))


def many_targets_in_parallel(lab, tmp_path) -> None:
    """Two targets (the lab's Dom0 and driver domain reached through two pairs of local TCP
    relays, as `make bench` does), checked with `-n 2 --dist loadgroup`: each target runs
    whole in its own worker, over one SSH connection per host, reported under its name.
    The setup is a permanent one: both reboot scenarios run (and pass) in check mode."""
    from bench.harness import Relays, multi_inventory
    inventory = multi_inventory(2, Relays(), tmp_path)
    run = run_suite(f"--inventory={inventory}", "-n", "2", "--dist", "loadgroup",
                    name="check-two-targets", inventory=inventory)
    names = [f"{lab.target.name}-via-{i}" for i in (1, 2)]
    for i, name in enumerate(names):  # the second has lan: none (the same guests)
        mine = {n: o for n, o in run.outcomes.items() if f"[{name}]" in n}
        lan = LAN_SCENARIOS if i else 0
        assert sorted(mine.values()) == ["passed"] * (SCENARIOS - SPECIAL + PERMANENT - lan) \
            + ["skipped"] * (SPECIAL - PERMANENT + lan), mine
    record = json.loads(RUNS["check-two-targets"].read_text())
    assert record["connections"] == {n: {"dom0": 1, "driver_domain": 1} for n in names}, \
        record["connections"]
    processes = {s["target"]: s["process"] for s in record["spans"]}
    assert len(record["spans"]) == 2 and sorted(processes) == names, record["spans"]
    assert len(set(processes.values())) == 2, f"both targets ran in one worker: {processes}"
    [(a0, a1), (b0, b1)] = [(s["start"], s["end"]) for s in record["spans"]]
    assert min(a1, b1) > max(a0, b0), f"the two targets did not overlap: {record['spans']}"


# Dom0's secrets, by content: none may be in the driver domain the suite built
DOM0_SECRETS = r"""
for f in /etc/ssh/ssh_host_*_key /etc/shadow /etc/gshadow /etc/ssh/*.pem; do
    [ -f "$f" ] && sha256sum "$f"
done
find /root /home /etc/ssl/private /etc/xen -xdev -type f ! -path '/etc/xen/scripts/*'     -size +0 -exec sha256sum {} + 2>/dev/null
true
"""


def no_dom0_secret_in_the_driver_domain(lab) -> None:
    """The driver domain faces the network: it was built from an allow-list, so none of
    Dom0's private keys, password hashes, /root, /home, TLS or Xen configuration is in it.
    Checked by content (every file's hash) and by what must not exist there."""
    from xenaccept.model import state
    t = lab.target
    dom0 = lab.dom0()
    dd = SSHRunner(t.driver_domain.name, state.driver_domain_spec(t), read_only=True)
    try:
        secrets = dict(reversed(line.split(None, 1)) for line in
                       dom0.out("sh", "-c", DOM0_SECRETS).splitlines() if line.strip())
        assert any("ssh_host" in f for f in secrets) and "/etc/shadow\n" in \
            "".join(f + "\n" for f in secrets), secrets  # the check sees Dom0's secrets
        hashes = dd.out("sh", "-c", "find / -xdev -type f -size +0 -exec sha256sum {} +",
                        timeout=300)
        inside = {h: f for h, f in (line.split(None, 1) for line in hashes.splitlines())}
        leaked = {secrets[h]: inside[h] for h in set(secrets) & set(inside)}
        assert not leaked, f"Dom0's secrets in the driver domain: {leaked}"
        root_files = dd.out("find", "/root", "/home", "-xdev", "-type", "f").split()
        assert root_files == ["/root/.ssh/authorized_keys"], root_files
        shadow = dd.out("cat", "/etc/shadow").splitlines()
        assert shadow and all(line.split(":")[1] in ("*", "!", "!*") for line in shadow), \
            "a password hash in the driver domain's /etc/shadow"
        assert dd.out("ls", "-A", "/etc/xen").split() == ["scripts"]
        keys = dd.out("sh", "-c", "grep -rls 'PRIVATE KEY' /etc /root /var /home /usr/local "
                      "/opt /srv 2>/dev/null; true").split()
        assert keys == ["/etc/ssh/ssh_host_ed25519_key"], keys  # its own, made for it
        authorized = dd.out("cat", "/root/.ssh/authorized_keys").split("\n")
        run_key = state.keys_for(t.name).key_file.with_suffix(".pub").read_text().strip()
        assert [k for k in authorized if k] == [run_key]
    finally:
        dd.close()
        dom0.close()


def check_through_a_bastion(lab, tmp_path) -> None:
    """Check mode on the kept (permanent) setup, Dom0 reached as operators reach hosts: an ssh_config
    alias behind a ProxyJump bastion (a real OpenSSH server on loopback), host keys
    verified on both hops; the inventory names no driver domain address (it is reached
    where it says in xenstore). Every scenario passes (isolation skipped: it would restart a
    domain), through the bastion, with no command that changes a host and one SSH
    connection per host for the whole run; a changed bastion key is then refused."""
    from tests import sshd
    t, d = lab.target, lab.target.dom0
    with sshd.Sshd(tmp_path / "bastion", name="bastion") as bastion:
        kh = tmp_path / "known_hosts"
        kh.write_text(Path(d.known_hosts).read_text())
        bastion.write_known_hosts(kh)
        cfg = tmp_path / "ssh_config"
        cfg.write_text(
            f"Host bastion\n  HostName 127.0.0.1\n  Port {bastion.port}\n"
            f"  User {bastion.user}\n  IdentityFile {bastion.client_key}\n"
            f"  UserKnownHostsFile {kh}\n\n"
            f"Host xenlab-dom0\n  HostName 127.0.0.1\n  Port {d.port}\n  User root\n"
            f"  IdentityFile {d.key_file}\n  UserKnownHostsFile {kh}\n  ProxyJump bastion\n")
        inv = tmp_path / "inventory.yaml"
        lan = yaml.safe_load(INVENTORY.read_text())["targets"][0]["lan"]
        inv.write_text(yaml.safe_dump({"targets": [{
            "name": t.name, "dom0": {"host": "xenlab-dom0", "ssh_config": str(cfg)},
            "device": t.device.bdf,
            # no driver_domain: it is reached where it says in xenstore, through the port
            # forward by which this machine reaches the lab's LAN (the lab's inventory
            # names it, with the peer's address and where it listens)
            "lan": lan}]}))
        assert lan["forwards"], lan
        forwards = f"target 127.0.0.1 port {d.port}"
        check = run_suite(f"--inventory={inv}", name="check", inventory=inv)
        all_passed(check, isolation="skipped", persist="passed")
        assert "xenstore-read /local/domain/" in check.transcript and \
            "/data/xenaccept/ssh-address" in check.transcript, "not reached where it says"
        assert bastion.log_text().count(forwards) == 1, "Dom0 was not reached through the bastion"
        assert check.transcript.count("] $ ") > 20, "fewer commands than expected"
        assert "(changes the host)" not in check.transcript
        conns = json.loads(RUNS["check"].read_text())["connections"]
        assert conns == {t.name: {"dom0": 1, "driver_domain": 1}}, conns
        # the bastion's key changed: refused before anything reaches Dom0
        forged = sshd.keygen(tmp_path / "forged", "forged")
        kh.write_text(Path(d.known_hosts).read_text() + bastion.known_hosts_line(
            key_line=" ".join(Path(f"{forged}.pub").read_text().split()[:2])))
        refused = run_suite(f"--inventory={inv}", name="check-proxyjump-changed", inventory=inv)
        assert set(refused.outcomes.values()) == {"error"}, refused.outcomes
        assert "bastion" in refused.output and "host key CHANGED" in refused.output
        assert bastion.log_text().count(forwards) == 1
        assert refused.transcript.strip() == ""


def a_kept_setup_as_operators_reach_it(lab, labs, tmp_path) -> None:
    """On the permanent setup that --persist --keep left (test_2_permanent): check mode
    through a bastion changing nothing, none of Dom0's secrets in the driver domain, the
    driver domain open to its operator, many targets in parallel; then the snapshot the
    snapshot and fault-matrix tests restore (`provisioned`)."""
    check_through_a_bastion(lab, tmp_path / "bastion")
    no_dom0_secret_in_the_driver_domain(lab)
    # the kept driver domain stays open to its operator: the lab's own ssh reaches it
    # with the run's key and the pinned host key
    p = xenlab("ssh", "drvdom", "--", "hostname", timeout=120)
    assert p.returncode == 0 and p.stdout.strip() == lab.target.driver_domain.name, p
    many_targets_in_parallel(lab, tmp_path)
    labs.save("provisioned")          # for the snapshot and fault-injection tests


def test_check_mode_on_a_fresh_host_fails_naming_what_is_missing(lab):
    run = run_suite(name="check-fresh")
    assert run.returncode == 1
    assert run.outcomes["test_dom0s_kernel_provides_the_pci_backend_xenpciback[xenlab-default]"] \
        == "passed"
    hidden = run.messages["test_the_device_belongs_to_pciback_not_to_its_native_driver"
                          "[xenlab-default]"]
    assert "found neither" in hidden or "found e1000" in hidden, hidden
    assert "(changes the host)" not in run.transcript


def test_a_second_run_against_a_locked_host_is_refused(lab):
    from xenaccept.transport import lock
    holder = SSHRunner("dom0", lab.target.dom0, read_only=False)
    held = lock.acquire(holder, exclusive=True)
    try:
        run = run_suite("--provision", name="locked")
    finally:
        held.release()
        holder.close()
    assert run.returncode != 0
    assert set(run.outcomes.values()) == {"error"}, run.outcomes
    assert "is locked by another xenaccept run" in run.output
    assert "pci-assignable-add" not in run.transcript


def test_a_forged_baseline_shows_regressions_and_fails_the_run(lab, tmp_path):
    if "check-fresh" not in RUNS:  # run on its own: the check run on a fresh host, here
        run_suite(name="check-fresh")
    record = json.loads(RUNS["check-fresh"].read_text())
    forged = {"facts": json.loads(json.dumps(record["facts"])),
              "results": {name: "passed" for name in record["results"]}}
    forged["facts"][lab.target.name]["dom0_kernel"] = "5.10.0-0-amd64"
    (tmp_path / "baseline.json").write_text(json.dumps(forged))
    run = run_suite(f"--baseline={tmp_path / 'baseline.json'}", name="baseline-compare")
    comparison = (ROOT / "reports" / "comparison.md").read_text()
    assert run.returncode == 1
    assert "what changed since the baseline" in run.output
    assert f"`{lab.target.name}.dom0_kernel`: `5.10.0-0-amd64` -> `6.1" in comparison
    regressed = [n for n, o in record["results"].items() if o != "passed"]
    assert regressed and all(f"{n}: passed -> **" in comparison for n in regressed)
