"""Why a guest's traffic does not reach the LAN, on snapshots recorded from the lab: none
on the healthy lab, and for each guest exactly the faults made for real on its path
(tests/data/README.md); where the counters say frames went."""

import pytest

from tests.support import data
from xenaccept.checks import lanfilter, lanpath
from xenaccept.resources import bridge, netfilter, netpath

GUESTS = {"xa-guest1": ("vif2.0", "00:16:3e:5a:00:01"), "xa-guest2": ("vif3.0", "00:16:3e:5a:00:02")}


def snapshot(context):
    return netpath.PathSnapshot(
        "xenbr0", netpath.parse_links(data(f"drvdom_ip-j-d-s-link_{context}.txt")),
        netpath.parse_vlans(data(f"drvdom_bridge-j-vlan-show_{context}.txt")),
        netpath.parse_qdiscs(data(f"drvdom_tc-j-s-qdisc-show_{context}.txt")),
        bridge.parse_fdb(data(f"drvdom_bridge-j-s-fdb-show-br-xenbr0_{context}.txt")))


def causes(context, guest):
    vif, mac = GUESTS[guest]
    return lanpath.causes(snapshot(context), bridge="xenbr0", nic="eth0", vif=vif, mac=mac,
                          guest_mtu=1500, guest=guest)


@pytest.mark.parametrize("guest", sorted(GUESTS))
def test_the_healthy_lab_has_no_cause(guest):
    assert causes("healthy", guest) == []


def test_guest1_without_a_vlan_behind_a_small_nic_mtu():
    assert causes("faults", "xa-guest1") == [
        "eth0 (the NIC): MTU 1400, below xa-guest1's 1500: full-size frames are dropped at "
        "the bridge, small ones pass",
        "xenbr0 filters VLANs (vlan_filtering 1) and vif2.0 (xa-guest1's vif) has no VLAN at "
        "all, eth0 (the NIC) has VLAN 1 (PVID, untagged): they share no VLAN with the same "
        "PVID/untagged setting, so xa-guest1's untagged frames are dropped as they enter "
        "vif2.0, which has no PVID (bridge vlan show)",
    ]


def test_guest2_with_a_small_mtu_no_learning_nor_flood_and_a_tiny_queue():
    assert causes("faults", "xa-guest2") == [
        "vif3.0 (xa-guest2's vif): MTU 1300, below xa-guest2's 1500: full-size frames to "
        "xa-guest2 are dropped at the bridge, small ones pass",
        "vif3.0 (xa-guest2's vif): learning off and flood off: xenbr0 neither learns "
        "xa-guest2's MAC on it nor floods unknown unicast to it, so unicast answers for "
        "xa-guest2 are dropped at the bridge once its learned entry ages out (bridge link set "
        "dev vif3.0 learning on flood on)",
        "vif3.0 (xa-guest2's vif): qdisc bfifo holds 1000 bytes, less than one full-size "
        "frame (1514 bytes): full-size frames to xa-guest2 are dropped in its queue, small "
        "ones pass (tc qdisc del dev vif3.0 root)",
        "eth0 (the NIC): MTU 1400, below xa-guest2's 1500: full-size frames are dropped at "
        "the bridge, small ones pass",
    ]


def test_what_is_no_cause_by_itself():
    snap = snapshot("faults")
    # vif2.0 is isolated, eth0 is not: they still forward to each other
    assert snap.links["vif2.0"].port.isolated and not snap.links["eth0"].port.isolated
    # the bridge took its ports' lowest MTU (1300): forwarded frames are limited by the
    # port they leave through, not by the bridge device
    assert snap.links["xenbr0"].mtu == 1300
    said = " ".join(causes("faults", "xa-guest1"))
    assert "isolated" not in said and "xenbr0 (" not in said and "MTU 1300" not in said


def test_a_guest_whose_mtu_fits_every_hop_has_only_the_other_causes():
    vif, mac = GUESTS["xa-guest2"]
    found = lanpath.causes(snapshot("faults"), bridge="xenbr0", nic="eth0", vif=vif, mac=mac,
                           guest_mtu=986, guest="xa-guest2")   # 986 + 14 = the bfifo's 1000
    assert [c.split(":")[0] for c in found] == ["vif3.0 (xa-guest2's vif)"]
    assert "learning off and flood off" in found[0]


def test_where_names_the_counters_that_moved():
    before, after = snapshot("healthy"), snapshot("faults")   # read later: all moved
    assert lanpath.where(before, after, nic="eth0", vif="vif2.0", guest="xa-guest1") == (
        "xa-guest1's frames reached vif2.0 (rx +58) and left through eth0 (tx +236); answers "
        "arrived on eth0 (rx +243) and were delivered to vif2.0 (tx +55)")


def test_where_when_nothing_came_from_the_guest():
    snap = snapshot("faults")
    assert lanpath.where(snap, snap, nic="eth0", vif="vif3.0", guest="xa-guest2") == (
        "xa-guest2's frames did not reach vif3.0 (rx +0): they stop in the guest or in netback")


def test_where_refuses_counters_that_went_back():
    assert lanpath.where(snapshot("faults"), snapshot("healthy"), nic="eth0", vif="vif2.0") \
        == "vif2.0's counters went back (the interface was made again): no comparison"


def filtered(loaded: bool, context: str) -> netpath.PathSnapshot:
    """The healthy path with the lab's packet filters as recorded (``faults``: br_netfilter
    loaded, iptables' FORWARD policy DROP with a jump to DOCKER-USER, and an nft table of
    family bridge with a forward chain of policy drop)."""
    snap = snapshot("healthy")
    brnf = dict(zip(("iptables", "ip6tables", "arptables"),
                    (int(v) for v in data("drvdom_bridge-nf-call_loaded.txt").split()),
                    strict=True))
    return netpath.PathSnapshot(
        snap.bridge, snap.links, snap.vlans, snap.qdiscs, snap.fdb, brnf if loaded else {},
        {"iptables": netfilter.parse_xt_chain(data(f"drvdom_iptables-S-FORWARD_{context}.txt"))},
        netfilter.parse_nft(data(f"drvdom_nft-j-list-ruleset_{context}.txt")))


def filter_causes(snap):
    return lanfilter.filter_causes(snap, bridge="xenbr0", nic="eth0", vif="vif2.0",
                                   guest="xa-guest1")


def test_no_filter_on_the_lab_as_built():
    assert filter_causes(filtered(False, "empty")) == []
    assert netfilter.parse_nft(data("drvdom_nft-j-list-ruleset_empty.txt")) == []


def test_dockers_forward_drop_and_an_nft_bridge_chain_are_named():
    found = filter_causes(filtered(True, "faults"))
    assert len(found) == 2, found
    assert found[0].startswith("br_netfilter is loaded with bridge-nf-call-iptables = 1: the "
                               "bridge hands its IPv4 frames to iptables' FORWARD chain, whose "
                               "policy is DROP (as Docker leaves it)")
    assert "nft chain bridge xa_fault forward_drop (hook forward): policy drop" in found[1]
    assert "xa_rules" not in " ".join(found)  # a chain of policy accept with no drop rule


def test_iptables_drop_without_br_netfilter_does_not_touch_bridged_frames():
    found = filter_causes(filtered(False, "faults"))
    assert len(found) == 1 and "xa_fault forward_drop" in found[0]


def test_a_sticky_static_entry_sending_a_guests_mac_elsewhere_is_named_once():
    snap = snapshot("healthy")
    fdb = bridge.parse_fdb(data("drvdom_bridge-j-s-fdb-show-br-xenbr0_sticky.txt"))
    found = lanpath.causes(netpath.PathSnapshot("xenbr0", snap.links, snap.vlans,
                                                snap.qdiscs, fdb),
                           bridge="xenbr0", nic="eth0", vif="vif2.0",
                           mac="00:16:3e:5a:00:01", guest_mtu=1500, guest="xa-guest1")
    assert found == ["the fdb of xenbr0 holds xa-guest1's MAC 00:16:3e:5a:00:01 as a static "
                     "entry on vif3.0, not on vif2.0: frames for xa-guest1 go to vif3.0 "
                     "(bridge fdb del 00:16:3e:5a:00:01 dev vif3.0 master)"]
