"""Restore guarantees: a provisioning run stopped half-way still leaves Dom0 as found."""

import signal
import subprocess
import sys
import time

import pytest
import yaml

from xenaccept import wait
from xenaccept.ssh import SSHRunner

from .conftest import INVENTORY, ROOT, dom0_state, dump, run_suite

pytestmark = pytest.mark.lab


def variant(tmp_path, change) -> str:
    """A copy of the lab's inventory with one thing changed."""
    data = yaml.safe_load(INVENTORY.read_text())
    change(data["targets"][0])
    path = tmp_path / "inventory.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


def test_a_failed_step_half_way_restores_dom0(lab, tmp_path):
    """The guests' kernel does not exist: `xl create` of a guest fails after the device was
    hidden, the driver domain started, its bridge made."""
    before = dom0_state(lab)
    inv = variant(tmp_path, lambda t: t["guests"].update(kernel="/boot/vmlinuz-missing"))
    run = run_suite(f"--inventory={inv}", "--provision", name="interrupt-failed-step")
    after = dom0_state(lab)
    assert run.returncode != 0
    assert "xl create /etc/xen/drvdom.cfg" in run.transcript  # it did get that far
    assert "xl destroy drvdom" in run.transcript
    assert after == before, f"before:\n{dump(before)}\nafter:\n{dump(after)}"


def test_a_timeout_restores_dom0(lab, tmp_path):
    """The driver domain is given 5 s to answer over SSH: the wait times out."""
    before = dom0_state(lab)
    inv = variant(tmp_path, lambda t: t["driver_domain"].update(boot_timeout=5))
    run = run_suite(f"--inventory={inv}", "--provision", name="interrupt-timeout")
    after = dom0_state(lab)
    assert run.returncode != 0
    assert "timed out after 5 s waiting for drvdom" in run.output
    assert after == before, f"before:\n{dump(before)}\nafter:\n{dump(after)}"


def test_sigint_while_the_driver_domain_boots_restores_dom0(lab):
    """Ctrl-C (SIGINT) once the driver domain exists."""
    before = dom0_state(lab)
    cmd = [sys.executable, "-m", "pytest", f"--inventory={INVENTORY}", "--provision",
           "--junitxml=reports/junit-interrupt-sigint.xml"]
    p = subprocess.Popen(cmd, cwd=ROOT, text=True, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT)
    dom0 = SSHRunner("dom0", lab.target.dom0, read_only=True)
    try:
        wait.until(lambda: "drvdom" in dom0.out("xl", "list"), timeout=300, interval=1,
                   what="the driver domain to exist")
    finally:
        dom0.close()
    p.send_signal(signal.SIGINT)
    out, _ = p.communicate(timeout=600)
    print(out[-4000:])
    after = dom0_state(lab)
    assert p.returncode != 0
    assert "KeyboardInterrupt" in out
    assert after == before, f"before:\n{dump(before)}\nafter:\n{dump(after)}"
