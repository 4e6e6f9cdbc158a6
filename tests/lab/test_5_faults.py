"""Fault injection: break one thing on the real lab, run check mode, and see exactly the
scenarios of that checkpoint fail, with a message naming the fault. Each run starts from
the `provisioned` snapshot, so no fault leaks into the next; faults whose checkpoints do
not overlap are made together and share a run."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from xenaccept import state
from xenaccept.ssh import SSHRunner

from .conftest import ROOT, run_suite

pytestmark = pytest.mark.lab

SCENARIOS = {
    "1a": "test_dom0s_kernel_provides_the_pci_backend_xenpciback",
    "1b": "test_the_driver_domains_kernel_provides_the_network_backend_xennetback",
    "2": "test_the_device_belongs_to_pciback_not_to_its_native_driver",
    "3a": "test_the_driver_domains_config_passes_the_device_through",
    "3b": "test_the_driver_domain_runs_the_same_kernel_as_dom0",
    "3c": "test_the_driver_domain_sees_the_device_and_drives_it_natively",
    "4a": "test_the_vif_hotplug_scripts_are_installed_in_the_driver_domain",
    "4b": "test_the_backend_daemon_xl_devd_runs_in_the_driver_domain",
    "5": "test_the_passedthrough_nic_is_a_port_of_the_bridge",
    "6": "test_every_guests_vif_is_served_by_the_driver_domain",
    "7": "test_the_bridge_learns_every_guests_mac_address_on_its_vif",
    "7b": "test_the_driver_domain_reaches_every_guest_across_the_bridge",
}
NEEDS_DRIVER_DOMAIN = {"1b", "3a", "3b", "3c", "4a", "4b", "5", "6", "7", "7b"}
REACHES_DRIVER_DOMAIN = {"1b", "3b", "3c", "4a", "4b", "5", "6", "7", "7b"}


@dataclass(frozen=True)
class Fault:
    name: str
    inject: tuple[tuple[str, tuple[str, ...]], ...]   # (dom0|drvdom, argv) in order
    fails: frozenset[str]                              # scenarios expected to fail
    says: dict[str, str]                               # scenario -> text its message holds


VIF = "{vif}"  # replaced by the first guest's backend interface

FAULTS = [
    Fault("device back on its native driver, driver domain down",
          (("dom0", ("xl", "destroy", "drvdom")),
           ("dom0", ("xl", "pci-assignable-remove", "-r", "0000:00:05.0"))),
          frozenset({"2"} | NEEDS_DRIVER_DOMAIN),
          {"2": "found neither", "3a": "found no such domain"}),
    Fault("pci= missing from the driver domain's config",
          (("dom0", ("sed", "-i", "/^pci/d", "/etc/xen/drvdom.cfg")),),
          frozenset({"3a"}),
          {"3a": "expected pci = [ '0000:00:05.0' ]; found no pci setting"}),
    Fault("vif-bridge not executable",
          (("drvdom", ("chmod", "-x", "/etc/xen/scripts/vif-bridge")),),
          frozenset({"4a"}),
          {"4a": "/etc/xen/scripts/vif-bridge (not executable)"}),
    Fault("vif-bridge removed",
          (("drvdom", ("mv", "/etc/xen/scripts/vif-bridge", "/root/vif-bridge.moved")),),
          frozenset({"4a"}),
          {"4a": "/etc/xen/scripts/vif-bridge (missing)"}),
    Fault("xl devd stopped",
          (("drvdom", ("systemctl", "stop", "xenaccept-xldevd")),),
          frozenset({"4b"}),
          {"4b": "expected exactly one `xl devd`; found 0"}),
    Fault("a guest's vif detached from the bridge",
          (("drvdom", ("ip", "link", "set", VIF, "nomaster")),),
          frozenset({"6", "7", "7b"}),
          {"6": f"expected {VIF}", "7": "not learned", "7b": "to answer"}),
    Fault("the bridge down (the lab reaches the driver domain only through it)",
          (("drvdom", ("systemd-run", "--quiet", "ip", "link", "set", "xenbr0", "down")),),
          frozenset(REACHES_DRIVER_DOMAIN),
          {"5": "drvdom"}),
]
NOT_INJECTED = {
    "driver domain on another kernel than Dom0": (
        "the lab's images hold one kernel; scenario 3b compares `uname -r` of both domains "
        "and fails with 'expected the driver domain on Dom0's kernel X; found Y'"),
}
MATRIX: dict[str, dict[str, str]] = {}


def _runner(lab, which: str) -> SSHRunner:
    t = lab.target
    spec = t.dom0 if which == "dom0" else state.driver_domain_spec(t)
    return SSHRunner(which if which == "dom0" else t.driver_domain.name, spec, read_only=False)


@pytest.fixture(scope="module", autouse=True)
def matrix():
    yield MATRIX
    labels = list(SCENARIOS)
    lines = ["| fault | " + " | ".join(labels) + " |", "|---" * (len(labels) + 1) + "|"]
    for fault, row in MATRIX.items():
        lines.append(f"| {fault} | " + " | ".join(row.get(k, "?") for k in labels) + " |")
    for fault, why in NOT_INJECTED.items():
        lines.append(f"| {fault} | not injected: {why} |")
    text = ("Detection matrix: F = failed as expected, . = passed as expected, "
            "/ = failed by another fault of the same run (their checkpoints do not overlap, "
            "so they share one restore and one check run), ! = unexpected\n\n"
            + "\n".join(lines) + "\n")
    (ROOT / "reports" / "detection-matrix.md").write_text(text)
    print("\n" + text)


def groups(faults: list[Fault]) -> list[list[Fault]]:
    """Faults whose checkpoints do not overlap share one restore and one check run: each
    scenario that fails then belongs to exactly one fault. First fit, in order."""
    out: list[list[Fault]] = []
    for f in faults:
        for g in out:
            if all(not (f.fails & other.fails) for other in g):
                g.append(f)
                break
        else:
            out.append([f])
    return out


GROUPS = groups(FAULTS)


@pytest.mark.parametrize("group", GROUPS, ids=[" + ".join(f.name for f in g) for g in GROUPS])
def test_faults_fail_exactly_their_checkpoints(labs, group: list[Fault]):
    lab = labs.boot("snapshot:provisioned")
    dom0 = _runner(lab, "dom0")
    try:
        domid = dom0.out("xl", "domid", lab.target.guests.names[0]).strip()
        vif = f"vif{domid}.0"
        for fault in group:
            for which, argv in fault.inject:
                runner = dom0 if which == "dom0" else _runner(lab, which)
                argv = tuple(a.replace(VIF, vif) for a in argv)
                runner.run(*argv, mutates=True, check=True, timeout=120)
                if runner is not dom0:
                    runner.close()
    finally:
        dom0.close()
    run = run_suite(name="fault")
    target = lab.target.name
    outcome = {k: run.outcomes.get(f"{v}[{target}]", "missing") for k, v in SCENARIOS.items()}
    failed = {k for k, o in outcome.items() if o in ("failed", "error")}
    expected = set().union(*(f.fails for f in group))
    for fault in group:
        others = expected - fault.fails  # failed by another fault of the same run
        MATRIX[fault.name] = {
            k: "/" if k in others else
            ("F" if k in failed else ".") if (k in failed) == (k in fault.fails) else "!"
            for k in SCENARIOS}
    assert failed == expected, {k: outcome[k] for k in SCENARIOS}
    for fault in group:
        for label, text in fault.says.items():
            message = run.messages.get(f"{SCENARIOS[label]}[{target}]", "")
            assert text.replace(VIF, vif) in message, (fault.name, label, message)
