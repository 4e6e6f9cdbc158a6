"""The `provisioned` snapshot (the permanent setup test_2_permanent kept, before its kernel
upgrade): a set-up lab back in seconds, the same every time."""

import time

import pytest

from xenaccept.model import state as keystore
from xenaccept.transport.ssh import SSHRunner

from .conftest import dom0_state, dump, run_suite
from .test_2_suite import all_passed

pytestmark = pytest.mark.lab


def setup_state(lab) -> dict:
    """Dom0's state plus the driver domain's bridge, read directly."""
    state = dom0_state(lab)
    t = lab.target
    dd = SSHRunner(t.driver_domain.name, keystore.driver_domain_spec(t), read_only=True)
    try:
        state["bridge_ports"] = sorted(dd.out("ls", "-1", f"/sys/class/net/{t.bridge}/brif")
                                       .split())
        state["devd"] = "xl devd" in dd.out("ps", "-eo", "args=")
    finally:
        dd.close()
    return state


def test_restoring_provisioned_twice_gives_the_same_state_and_check_mode_passes(labs):
    """Check mode on the second restore (the fault matrix's runs pass every scenario its
    faults leave alone, on a restore each)."""
    states, took = [], []
    for _ in range(2):
        start = time.monotonic()
        lab = labs.boot("snapshot:provisioned")
        took.append(time.monotonic() - start)
        states.append(setup_state(lab))
    all_passed(run_suite(name="check-restored"), isolation="skipped", persist="passed")
    print(f"restore of 'provisioned' to ready: {took[0]:.1f} s, {took[1]:.1f} s")
    assert states[0] == states[1], f"first:\n{dump(states[0])}\nsecond:\n{dump(states[1])}"
    assert len(states[0]["bridge_ports"]) == 1 + len(lab.target.guests.names)
