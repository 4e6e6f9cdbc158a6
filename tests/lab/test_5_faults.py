"""Fault injection: break one thing on the real lab, run check mode, and see exactly the
scenarios of that checkpoint fail, with a message naming the fault. Each run starts from
the `provisioned` snapshot (a permanent setup, as operators check theirs for months), so no
fault leaks into the next; faults whose checkpoints do
not overlap are made together and share a run."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from xenaccept.model import state
from xenaccept.names import DEVD_UNIT_PERSISTENT
from xenaccept.transport import wait
from xenaccept.resources.bridge import Bridge
from xenaccept.images.guest_payload import guest_link_local
from xenaccept.transport.ssh import SSHRunner

from .conftest import ROOT, run_suite
from .test_2_suite import all_passed

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
    "L1": "test_every_guest_takes_its_lan_address_through_the_driver_domain",
    "L2": "test_every_guest_reaches_the_lans_gateway_and_back_with_fullsize_frames",
    "L3": "test_every_guest_moves_bulk_data_both_ways_with_a_lan_peer_intact",
}
LAN_PATH = {"L2", "L3"}   # a guest's frames to the LAN and back
# scenarios that check every guest and name each one that fails, so that faults on
# different guests can share a run
PER_GUEST = LAN_PATH | {"7", "7b"}
NEEDS_DRIVER_DOMAIN = {"1b", "3a", "3b", "3c", "4a", "4b", "5", "6", "7", "7b", "L1"} | LAN_PATH
REACHES_DRIVER_DOMAIN = {"1b", "3b", "3c", "4a", "4b", "5", "6", "7", "7b"} | LAN_PATH


@dataclass(frozen=True)
class Fault:
    name: str
    inject: tuple[tuple[str, tuple[str, ...]], ...]   # (dom0|drvdom, argv) in order
    fails: frozenset[str]                              # scenarios expected to fail
    says: dict[str, str]                               # scenario -> text its message holds
    guest: str | None = None   # the one guest whose LAN path it breaks (None: any, or all)


VIF = "{vif}"    # replaced by the first guest's backend interface
VIF2 = "{vif2}"  # the second guest's
DOMID2 = "{domid2}"
G1_MAC = "00:16:3e:5a:00:01"
G2_MAC = "00:16:3e:5a:00:02"

MISSING = [  # the object of a checkpoint missing
    # hidden at boot, the device has no driver for `xl pci-assignable-remove -r` to give it
    # back to: it is bound to its native driver by hand, as an operator would
    Fault("device back on its native driver, driver domain down",
          (("dom0", ("xl", "destroy", "drvdom")),
           ("dom0", ("xl", "pci-assignable-remove", "0000:00:05.0")),
           ("dom0", ("sh", "-c", 'modprobe e1000 && echo "$1" > /sys/bus/pci/drivers/e1000/bind',
                     "sh", "0000:00:05.0"))),
          frozenset({"2"} | NEEDS_DRIVER_DOMAIN),
          {"2": "expected pciback; found e1000", "3a": "found no such domain"}),
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
          (("drvdom", ("systemctl", "stop", DEVD_UNIT_PERSISTENT)),),
          frozenset({"4b"}),
          {"4b": "expected exactly one `xl devd`; found 0"}),
    Fault("a guest's vif detached from the bridge",
          (("drvdom", ("ip", "link", "set", VIF, "nomaster")),),
          frozenset({"6", "7", "7b"} | LAN_PATH),
          {"6": f"{VIF} is no bridge's port", "7": "not learned", "7b": "to answer"},
          guest="xa-guest1"),
    Fault("the bridge down (the lab reaches the driver domain only through it)",
          (("drvdom", ("systemd-run", "--quiet", "ip", "link", "set", "xenbr0", "down")),),
          frozenset(REACHES_DRIVER_DOMAIN),
          {"5": "drvdom"}),
]
BROKEN = [  # the object there, and not working
    Fault("xen-pciback kept from loading: `install xen_pciback /bin/false` in Dom0",
          (("dom0", ("sh", "-c", "echo 'install xen_pciback /bin/false' "
                     "> /etc/modprobe.d/local.conf")),),
          frozenset({"1a"}),
          {"1a": "`/etc/modprobe.d/local.conf: install xen_pciback /bin/false` "
                 "(xen-pciback is loaded now: it would not load at the next boot)"}),
    Fault("xen-netback blacklisted in the driver domain",
          (("drvdom", ("sh", "-c", "mkdir -p /etc/modprobe.d && echo 'blacklist xen-netback' "
                       "> /etc/modprobe.d/local.conf")),),
          frozenset({"1b"}),
          {"1b": "`/etc/modprobe.d/local.conf: blacklist xen-netback`"}),
    Fault("the driver domain's ramdisk gone from Dom0 (it runs, and would not start again)",
          (("dom0", ("sh", "-c", "mv /var/lib/xenaccept/drvdom/initrd.img-* /root/")),),
          frozenset({"3a"}),
          {"3a": "missing: /var/lib/xenaccept/drvdom/initrd.img-6.1."}),
    Fault("a syntax error in a helper vif-bridge sources",
          (("drvdom", ("sh", "-c", "echo 'if then' >> /etc/xen/scripts/xen-network-common.sh")),),
          frozenset({"4a"}),
          {"4a": "/etc/xen/scripts/xen-network-common.sh: xen-network-common.sh: line "}),
    Fault("xl devd stopped by SIGSTOP (still listed by ps)",
          (("drvdom", ("pkill", "-STOP", "-x", "xl")),),
          frozenset({"4b"}),
          {"4b": "found state T"}),
    Fault("a guest's vif a port of another bridge",
          (("drvdom", ("sh", "-c", 'ip link add xenbr1 type bridge && ip link set xenbr1 up '
                       '&& ip link set "$1" master xenbr1', "sh", VIF)),),
          frozenset({"6", "7", "7b"} | LAN_PATH),
          {"6": f"{VIF} is a port of xenbr1, not of xenbr0",
           "7": f"{VIF} is not a port of xenbr0 but of xenbr1",
           "7b": f"{VIF} is not a port of xenbr0 but of xenbr1"},
          guest="xa-guest1"),
    Fault("a guest's port disabled on the bridge",
          (("drvdom", ("bridge", "link", "set", "dev", VIF, "state", "0")),),
          frozenset({"6", "7", "7b"} | LAN_PATH),
          {"6": "found port state disabled", "7": "port state disabled",
           "7b": "port state disabled"},
          guest="xa-guest1"),
    Fault("a guest's netfront closed (its xenstore state set to Closed): vif enslaved, "
          "backend Closed",
          (("dom0", ("xenstore-write", f"/local/domain/{DOMID2}/device/vif/0/state", "6")),),
          frozenset({"6", "7", "7b"} | LAN_PATH),
          {"6": "found state 6 (Closed) (its frontend: 6 (Closed)), hotplug-status connected",
           "7": "no carrier", "7b": "no carrier"},
          guest="xa-guest2"),
    Fault("a guest paused (its vif enslaved, connected and forwarding)",
          (("dom0", ("xl", "pause", "xa-guest2")),),
          frozenset({"7", "7b", "L1"} | LAN_PATH),
          {"7": "but no frame from it for", "7b": "xa-guest2 is paused",
           "L2": "xa-guest2 is paused"},
          guest="xa-guest2"),
    Fault("learning off on a guest's port (and its entry flushed)",
          (("drvdom", ("sh", "-c", 'bridge link set dev "$1" learning off && '
                       'bridge fdb del "$2" dev "$1" master', "sh", VIF2, G2_MAC)),),
          frozenset({"7"}),
          {"7": f"found not learned (port {VIF2}: learning off)"},
          guest="xa-guest2"),
    Fault("IPv6 disabled on the bridge",
          (("drvdom", ("sysctl", "-w", "net.ipv6.conf.xenbr0.disable_ipv6=1")),),
          frozenset({"7b"}),
          {"7b": "xenbr0 has no IPv6 link-local address"}),
]
LAN = [  # the guests' path to the LAN broken past the checkpoints above (features 7 (LAN))
    Fault("the NIC's MTU below the guests' (eth0 at 1400)",
          (("drvdom", ("ip", "link", "set", "eth0", "mtu", "1400")),),
          frozenset(LAN_PATH),
          {"L2": "eth0 (the NIC): MTU 1400, below xa-guest1's 1500",
           "L3": "full-size pings to 10.0.2.2 answered, so bulk TCP could only stall"}),
    Fault("a guest's vif MTU below the guest's (1400)",
          (("drvdom", ("ip", "link", "set", VIF, "mtu", "1400")),),
          frozenset(LAN_PATH),
          {"L2": f"{VIF} (xa-guest1's vif): MTU 1400, below xa-guest1's 1500"},
          guest="xa-guest1"),
    Fault("a queue too short for a full-size frame on a guest's vif (bfifo, 1000 bytes)",
          (("drvdom", ("tc", "qdisc", "replace", "dev", VIF2, "root", "bfifo", "limit",
                       "1000")),),
          frozenset(LAN_PATH),
          {"L2": f"{VIF2} (xa-guest2's vif): qdisc bfifo holds 1000 bytes"},
          guest="xa-guest2"),
    Fault("VLAN filtering on the bridge, a guest's vif in no VLAN",
          (("drvdom", ("ip", "link", "set", "xenbr0", "type", "bridge", "vlan_filtering", "1")),
           ("drvdom", ("bridge", "vlan", "del", "dev", VIF, "vid", "1"))),
          frozenset({"7", "7b"} | LAN_PATH),
          {"L2": f"{VIF} (xa-guest1's vif) has no VLAN at all"},
          guest="xa-guest1"),
    Fault("learning and flooding off on a guest's port, its entry flushed",
          (("drvdom", ("sh", "-c", 'bridge link set dev "$1" learning off flood off && '
                       'bridge fdb del "$2" dev "$1" master', "sh", VIF2, G2_MAC)),),
          frozenset({"7", "7b"} | LAN_PATH),
          {"L2": f"{VIF2} (xa-guest2's vif): learning off and flood off"},
          guest="xa-guest2"),
    Fault("a static fdb entry sends a guest's MAC to the other guest's vif",
          (("drvdom", ("bridge", "fdb", "replace", G1_MAC, "dev", VIF2, "master", "static",
                       "sticky")),),
          frozenset({"7", "7b"} | LAN_PATH),
          {"L2": f"as a static entry on {VIF2}, not on {VIF}"},
          guest="xa-guest1"),
    Fault("the NIC's port and a guest's port isolated on the bridge",
          (("drvdom", ("bridge", "link", "set", "dev", "eth0", "isolated", "on")),
           ("drvdom", ("bridge", "link", "set", "dev", VIF2, "isolated", "on"))),
          frozenset(LAN_PATH),
          {"L2": "isolated"},
          guest="xa-guest2"),
    Fault("an nft bridge chain dropping forwarded frames",
          (("drvdom", ("nft", "add", "table", "bridge", "xa_fault")),
           ("drvdom", ("nft", "add", "chain", "bridge", "xa_fault", "forward_drop",
                       "{ type filter hook forward priority 0; policy drop; }"))),
          frozenset(LAN_PATH),
          {"L2": "xa_fault"}),
    Fault("br_netfilter loaded and iptables' FORWARD policy DROP (as Docker leaves it)",
          (("drvdom", ("modprobe", "br_netfilter")),
           ("drvdom", ("iptables", "-P", "FORWARD", "DROP"))),
          frozenset(LAN_PATH),
          {"L2": "FORWARD"}),
]
FAULTS = MISSING + BROKEN + LAN
NOT_INJECTED = {
    "driver domain on another kernel than Dom0": (
        "the lab's images hold one kernel; scenario 3b compares `uname -r` of both domains "
        "and fails with 'expected the driver domain on Dom0's kernel X; found Y'"),
    "a hotplug helper that parses but fails when it runs (a command it calls is gone)": (
        "check mode cannot see it: only running vif-bridge would, which plugs a vif (a "
        "change). Caught in provision mode by the probe scenario 4c (a test vif plugged, "
        "then unplugged), which check mode skips saying so"),
    "the NIC without carrier, or its bridge port disabled": (
        "on the lab the suite reaches the driver domain through that NIC, so such a fault "
        "shows as 'the driver domain does not answer' (like the bridge-down fault above); "
        "on a host reached another way, scenario 5 names the port's trouble"),
    "a module file present but damaged": (
        "only loading it would tell, and no checkpoint loads a module"),
}
MATRIX: dict[str, dict] = {}
NO_ALARM: list[str] = []  # healthy but unusual setups that check mode passed


def _runner(lab, which: str) -> SSHRunner:
    t = lab.target
    spec = t.dom0 if which == "dom0" else state.driver_domain_spec(t)
    return SSHRunner(which if which == "dom0" else t.driver_domain.name, spec, read_only=False)


@pytest.fixture(scope="module", autouse=True)
def matrix():
    yield MATRIX
    labels = list(SCENARIOS)
    lines = ["| fault | kind | " + " | ".join(labels) + " | the message holds |",
             "|---" * (len(labels) + 3) + "|"]
    for fault in FAULTS:
        row = MATRIX.get(fault.name)
        if row is None:
            continue
        kind = ("missing" if fault in MISSING else "present, broken" if fault in BROKEN
                else "LAN path")
        says = "; ".join(f"{k}: `{v}`" for k, v in row["says"].items()).replace("|", "\\|")
        lines.append(f"| {fault.name} | {kind} | " + " | ".join(row.get(k, "?") for k in labels)
                     + f" | {says} |")
    lines += ["", "Not injected, or not visible to check mode:", ""]
    lines += [f"- {fault}: {why}" for fault, why in NOT_INJECTED.items()]
    if NO_ALARM:
        lines += ["", "Healthy, and passed (no false alarm):", ""] + [f"- {x}" for x in NO_ALARM]
    text = ("Detection matrix (check mode on the restored `provisioned` lab, one restore per "
            "row group): F = failed as expected, . = passed as expected, / = failed by "
            "another fault of the same run (their checkpoints do not overlap, so they share "
            "one restore and one check run), ! = unexpected. Scenario 4c (a test vif plugged "
            "and unplugged) runs with --provision only and is skipped here.\n\n"
            + "\n".join(lines) + "\n")
    (ROOT / "reports" / "detection-matrix.md").write_text(text)
    print("\n" + text)


def _clash(f: Fault, other: Fault) -> bool:
    """Two faults cannot share a run when a scenario would fail for both, except the
    scenarios that name every guest that fails (PER_GUEST) when each fault breaks another
    guest: each fault's message is then there."""
    shared = f.fails & other.fails
    if shared - PER_GUEST:
        return True
    return bool(shared) and (f.guest is None or other.guest is None or f.guest == other.guest)


def groups(faults: list[Fault]) -> list[list[Fault]]:
    """Faults whose checkpoints do not overlap share one restore and one check run: each
    scenario that fails then belongs to exactly one fault (or, on the LAN path, to one
    fault a guest). First fit, in order."""
    out: list[list[Fault]] = []
    for f in faults:
        for g in out:
            if all(not _clash(f, other) for other in g):
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
    runners = {"dom0": dom0}  # one connection per host for the whole group
    try:
        g1, g2 = lab.target.guests.names[:2]
        domid, domid2 = (dom0.out("xl", "domid", g).strip() for g in (g1, g2))
        names = {VIF: f"vif{domid}.0", VIF2: f"vif{domid2}.0", DOMID2: domid2}
        for fault in group:
            for which, argv in fault.inject:
                if which not in runners:
                    runners[which] = _runner(lab, which)
                argv = tuple(_fill(a, names) for a in argv)
                runners[which].run(*argv, mutates=True, check=True, timeout=120)
    finally:
        for runner in runners.values():
            runner.close()
    run = run_suite(name=f"fault-{GROUPS.index(group) + 1}")  # each group's records kept
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
        MATRIX[fault.name]["says"] = {k: _fill(v, names) for k, v in fault.says.items()}
    assert failed == expected, {k: outcome[k] for k in SCENARIOS}
    for fault in group:
        for label, text in fault.says.items():
            message = run.messages.get(f"{SCENARIOS[label]}[{target}]", "")
            assert _fill(text, names) in message, (fault.name, label, message)


def _fill(text: str, names: dict[str, str]) -> str:
    for placeholder, value in names.items():
        text = text.replace(placeholder, value)
    return text


QUIET = "console=hvc0 sysctl.net.ipv6.conf.default.router_solicitations=0"


def test_a_quiet_guest_is_asked_for_a_frame_and_is_no_false_alarm(labs):
    """An operator's idle guest sends nothing for minutes, and its bridge entry ages. Here
    the second guest is started again without the address it pings and without router
    solicitations: after its link came up it sends nothing on its own, but its kernel
    answers pings. Once its entry is 8 s old, check mode passes every scenario: 7a asks
    the guest for a frame (one ping from the driver domain), 7b pings it again."""
    lab = labs.boot("snapshot:provisioned")
    g2 = lab.target.guests.names[1]
    dom0, drvdom = _runner(lab, "dom0"), _runner(lab, "drvdom")
    try:
        dom0.run("xl", "destroy", g2, mutates=True, check=True)
        dom0.run("xl", "create", lab.target.config_path(g2), f'extra="{QUIET}"',
                 mutates=True, check=True, timeout=120)

        br = Bridge(drvdom, lab.target.bridge)

        def stale() -> int | None:
            ages = [e.updated for e in br.learned_entries(G2_MAC) if e.updated is not None]
            return ages[0] if ages and ages[0] >= 8 else None
        age = wait.until(stale, timeout=120, what=f"{g2}'s bridge entry 8 s old",
                         patient=(drvdom,))
    finally:
        dom0.close()
        drvdom.close()
    # the LAN's probe would make the guest talk: its own scenarios run everywhere else
    run = run_suite("-m", "not lan", name="check-quiet-guest")
    all_passed(run, isolation="skipped", persist="passed", lan="deselected")
    addr = guest_link_local(G2_MAC)
    pings = [line for line in run.transcript.splitlines()
             if "] $ ping " in line and f"{addr}%" in line]
    assert len(pings) == 2, pings  # 7a's request for a frame, then 7b
    NO_ALARM.append(f"a quiet guest ({g2} started without pinging and without router "
                    f"solicitations; its bridge entry {age} s old): every scenario passed, "
                    "7a asked it for a frame with one ping")
