"""Restore guarantees: a provisioning run stopped half-way still leaves Dom0 as found."""

import signal
from pathlib import Path
import subprocess
import sys
import time

import pytest
import yaml

from xenaccept.transport import wait
from xenaccept.transport.ssh import SSHRunner

from .conftest import INVENTORY, ROOT, dom0_state, dump, run_suite

pytestmark = pytest.mark.lab


def variant(tmp_path, change) -> str:
    """A copy of the lab's inventory with one thing changed."""
    data = yaml.safe_load(INVENTORY.read_text())
    change(data["targets"][0])
    path = tmp_path / "inventory.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


def persisted_before(run) -> None:
    """A --persist run that stopped: it had made the boot files of the permanent setup
    (the hide at boot, the kernel's hooks, update-initramfs and update-grub) and put them
    back, without rebooting (Dom0 never booted the changed files)."""
    for step in ("update-initramfs -u -k all", "update-grub"):
        assert step in run.transcript, step
    assert "restore: put back the boot files" in run.output
    assert "rebooting Dom0" not in run.output


def test_a_failed_step_half_way_through_a_persistent_run_restores_dom0(lab, tmp_path):
    """A --persist run whose guests' kernel does not exist: `xl create` of a guest fails
    after the device was hidden (now and at boot: the boot files rewritten), the driver
    domain built and started (reached at the address it says), its bridge made. Dom0 as
    found, every boot file byte for byte."""
    from xenaccept.names import KERNEL_HOOKS
    from .test_2_suite import boot_files, changed
    before, files = dom0_state(lab), boot_files(lab)
    # and the inventory gives the host, the NIC and the LAN, no address for the driver
    # domain: it is reached where it says in xenstore (through the lab's forward)
    inv = variant(tmp_path, lambda t: (t.update(guests={"kernel": "/boot/vmlinuz-missing"}),
                                       t.pop("driver_domain")))
    run = run_suite(f"--inventory={inv}", "--provision", "--persist",
                    name="interrupt-failed-step")
    after, files_after = dom0_state(lab), boot_files(lab)
    assert run.returncode != 0
    assert "xl create /etc/xen/drvdom.cfg" in run.transcript  # it did get that far
    assert "drvdom says its SSH server answers at 10.0.2.15" in run.output
    assert "[drvdom] $ systemd-run --quiet --collect --unit=xenaccept-bridge-" in run.transcript
    assert "xl destroy drvdom" in run.transcript
    assert all(h in run.transcript for h in KERNEL_HOOKS)  # written; gone after
    persisted_before(run)
    assert after == before, f"before:\n{dump(before)}\nafter:\n{dump(after)}"
    assert files_after == files, changed(files, files_after)


def test_a_timeout_in_a_persistent_run_restores_dom0(lab, tmp_path):
    """A --persist run whose driver domain is given 5 s to answer over SSH: the wait times
    out, after the boot files were rewritten. It is an operator's own driver domain whose
    disk holds nothing (Dom0's kernel and initramfs find no root there and wait), so
    nothing is built for it. Dom0 as found, every boot file byte for byte."""
    from .test_2_suite import boot_files, changed
    blank = "/root/xa-timeout-blank.img"  # the operator's disk: made here, removed after
    before, files = dom0_state(lab), boot_files(lab)
    dom0 = SSHRunner("dom0", lab.target.dom0, read_only=False)
    try:
        dom0.run("truncate", "-s", "16M", blank, mutates=True, check=True)
        inv = variant(tmp_path, lambda t: t["driver_domain"].update(
            boot_timeout=5, disk=f"format=raw,vdev=xvda,access=rw,target={blank}"))
        run = run_suite(f"--inventory={inv}", "--provision", "--persist",
                        name="interrupt-timeout")
    finally:
        dom0.run("rm", "-f", blank, mutates=True)
        dom0.close()
    after, files_after = dom0_state(lab), boot_files(lab)
    assert run.returncode != 0
    assert "timed out after 5 s waiting for drvdom" in run.output
    assert "xl destroy drvdom" in run.transcript
    # what Dom0 sees of the silent domain: its state and the tail of its console
    assert "Dom0 sees drvdom: id " in run.output and "the tail of its console" in run.output
    persisted_before(run)
    assert after == before, f"before:\n{dump(before)}\nafter:\n{dump(after)}"
    assert files_after == files, changed(files, files_after)


def test_sigint_while_a_persistent_run_rewrites_the_boot_files_restores_dom0(lab):
    """Ctrl-C (SIGINT) in a --persist run while Dom0 runs update-initramfs: the update the
    run left is let finish, then every boot file is put back byte for byte, and the files
    written before the update (GRUB's drop-in, the initramfs hook, the kernel's hooks for
    the driver domain) are gone (no reboot needed: Dom0 never booted the changed files)."""
    from xenaccept.names import KERNEL_HOOKS
    from .test_2_suite import boot_files, changed
    before, files = dom0_state(lab), boot_files(lab)
    cmd = [sys.executable, "-m", "pytest", f"--inventory={INVENTORY}", "--provision",
           "--persist", "--junitxml=reports/junit-interrupt-sigint.xml"]
    # SIGINT as a terminal's Ctrl-C delivers it, even when this session was started in the
    # background (where SIGINT is ignored, and a child would inherit that)
    p = subprocess.Popen(cmd, cwd=ROOT, text=True, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT,
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    dom0 = SSHRunner("dom0", lab.target.dom0, read_only=True)
    try:  # Ctrl-C once update-initramfs is under way in Dom0 (written with the hide)
        wait.until(lambda: p.poll() is None and dom0.run("pgrep", "update-initramf|mkinitramfs").ok,
                   timeout=300, interval=0.5, what="update-initramfs to run in Dom0",
                   patient=(dom0,))
        written = [h for h in KERNEL_HOOKS if dom0.run("test", "-x", h).ok]
    finally:
        dom0.close()
    p.send_signal(signal.SIGINT)
    out, _ = p.communicate(timeout=1200)
    print(out[-5000:])
    after, files_after = dom0_state(lab), boot_files(lab)
    assert p.returncode != 0
    assert "KeyboardInterrupt" in out
    assert "restore: put back the boot files" in out
    assert "rebooting Dom0" not in out
    assert written == list(KERNEL_HOOKS), written  # there when interrupted; gone after
    assert after == before, f"before:\n{dump(before)}\nafter:\n{dump(after)}"
    assert files_after == files, changed(files, files_after)


INJECTIONS = {
    ("device",): "00:05.0; touch /tmp/pwned",
    ("driver_domain", "name"): "$(touch /tmp/pwned)",
    ("bridge",): "xenbr0`touch /tmp/pwned`",
    ("driver_domain", "extra"): "root=/dev/xvda\"; touch /tmp/pwned; \"",
    ("guests", "mac_prefix"): "00:16:3e:5a:00 && touch /tmp/pwned",
}


@pytest.mark.parametrize("path", list(INJECTIONS), ids=[".".join(p) for p in INJECTIONS])
def test_an_injection_in_the_inventory_is_refused_before_anything_runs(lab, tmp_path, path):
    value = INJECTIONS[path]

    def inject(t):
        node = t
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node[path[-1]] = value

    inv = variant(tmp_path, inject)
    run = run_suite(f"--inventory={inv}", "--provision", name="injection")
    assert run.returncode == 4, run.output[-2000:]  # pytest's usage error: nothing collected
    assert f"targets[0].{'.'.join(path)}" in run.output and "is not" in run.output
    assert run.transcript == ""  # not one command was sent
    dom0 = SSHRunner("dom0", lab.target.dom0, read_only=True)
    try:
        assert not dom0.run("test", "-e", "/tmp/pwned").ok
    finally:
        dom0.close()


def test_no_private_key_in_the_reports(lab):
    """After the runs above: neither Dom0's SSH private key nor the key the suite made for
    the driver domain is in any report file."""
    from xenaccept.model import state
    keys = [Path(lab.target.dom0.key_file), state.keys_for(lab.target.name).key_file]
    body = [line for k in keys if k.exists() for line in k.read_text().splitlines()
            if line and not line.startswith("-----")]
    assert body
    for f in (ROOT / "reports").rglob("*"):
        if f.is_file():
            text = f.read_text(errors="replace")
            assert not any(line in text for line in body), f


def test_an_unreachable_host_is_a_harness_error_not_a_failed_checkpoint(lab, tmp_path):
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    closed = s.getsockname()[1]
    s.close()
    inv = variant(tmp_path, lambda t: t["dom0"].update(port=closed))
    start = time.monotonic()
    run = run_suite(f"--inventory={inv}", name="unreachable")
    assert time.monotonic() - start < 60
    assert set(run.outcomes.values()) == {"error"}, run.outcomes
    assert "unreachable" in run.output


def test_a_hung_command_ends_with_a_timeout_within_its_limit(lab):
    from xenaccept.errors import CommandTimeout
    dom0 = SSHRunner("dom0", lab.target.dom0, read_only=True)
    start = time.monotonic()
    try:
        with pytest.raises(CommandTimeout, match="did not finish in 3 s"):
            dom0.run("sleep", "60", timeout=3)
        assert time.monotonic() - start < 10
        assert dom0.run("true").ok  # the runner reconnects afterwards
    finally:
        dom0.close()
