"""The boot-time hide: xen-pciback.hide=(BDF) on Dom0's command line."""

import pytest

from .conftest import dom0_state, dump, run_suite
from .test_2_suite import NO_ISOLATION, all_passed

pytestmark = pytest.mark.lab


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
    run = run_suite("--provision", *NO_ISOLATION, name="provision-hidden")
    after = dom0_state(lab_hidden)
    all_passed(run, isolation="deselected")
    assert "pci-assignable-add" not in run.transcript
    assert after == before, f"before:\n{dump(before)}\nafter:\n{dump(after)}"
    assert after["driver"].endswith("/pciback")
