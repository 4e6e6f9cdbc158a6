"""The boot-time hide: xen-pciback.hide=(BDF) on Dom0's command line."""

import pytest

from .conftest import ROOT, dom0_state, dump, run_suite

pytestmark = pytest.mark.lab

# The hide only changes how the device gets to pciback: the run here stops at the driver
# domain and its bridge (the guests' stages, unchanged by it, are proven by the other runs)
NOT_GUESTS = sum(line.strip().startswith("Scenario:")
                 for f in (ROOT / "features").glob("*.feature")
                 if "@guest" not in f.read_text().splitlines()[0]
                 for line in f.read_text().splitlines())


def test_the_nic_is_bound_to_pciback_from_boot(lab_hidden):
    r = lab_hidden.dom0()
    bdf = lab_hidden.target.device.bdf
    try:
        driver = r.out("readlink", f"/sys/bus/pci/devices/{bdf}/driver").strip()
        cmdline = r.out("cat", "/proc/cmdline")
    finally:
        r.close()
    assert driver.endswith("/pciback"), driver
    assert f"xen-pciback.hide=({bdf})" in cmdline, cmdline


def test_provisioning_on_a_boot_time_hide_passes_and_leaves_the_device_hidden(lab_hidden):
    before = dom0_state(lab_hidden)
    run = run_suite("--provision", "-m", "not guest", name="provision-hidden")
    after = dom0_state(lab_hidden)
    assert run.returncode == 0, run.output[-5000:]
    assert len(run.outcomes) == NOT_GUESTS >= 9, run.outcomes
    assert set(run.outcomes.values()) == {"passed"}, run.messages
    assert "pci-assignable-add" not in run.transcript
    assert "modprobe xen-pciback" not in run.transcript  # loaded at boot: left as found
    assert after == before, f"before:\n{dump(before)}\nafter:\n{dump(after)}"
    assert after["driver"].endswith("/pciback")
