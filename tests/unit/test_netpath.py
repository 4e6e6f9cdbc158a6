"""The driver domain's path to the LAN read from outputs recorded on the lab, healthy and
after faults made for real (tests/data/README.md): what each parser keeps, and that the read
sends only read-only commands, each bounded, and survives a tool that is absent or hangs."""

import pytest

from tests.support import FakeRunner, data
from xenaccept.errors import CommandTimeout, InventoryError
from xenaccept.resources import netpath
from xenaccept.resources.netpath import Counters, PortSettings, Vlan

READS = ["ip -j -d -s link show", "bridge -j vlan show", "tc -j -s qdisc show",
         "bridge -j -s fdb show br xenbr0",
         "cat /proc/sys/net/bridge/bridge-nf-call-iptables",
         "cat /proc/sys/net/bridge/bridge-nf-call-ip6tables",
         "cat /proc/sys/net/bridge/bridge-nf-call-arptables",
         "iptables -S FORWARD", "ip6tables -S FORWARD", "nft -j list ruleset"]


class TimedRunner(FakeRunner):
    """A fake driver domain that also keeps the timeout each command was sent with."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.timeouts = []

    def _execute(self, command, timeout, stdin):
        self.timeouts.append(timeout)
        return super()._execute(command, timeout, stdin)


def recorded(context):
    """The driver domain as recorded in ``context`` (healthy, faults): no netfilter tool's
    output is recorded, so those answer as not installed."""
    return TimedRunner("drvdom", {
        READS[0]: data(f"drvdom_ip-j-d-s-link_{context}.txt"),
        READS[1]: data(f"drvdom_bridge-j-vlan-show_{context}.txt"),
        READS[2]: data(f"drvdom_tc-j-s-qdisc-show_{context}.txt"),
        READS[3]: data(f"drvdom_bridge-j-s-fdb-show-br-xenbr0_{context}.txt"),
    })


def test_links_keep_mtu_flags_port_settings_and_counters():
    links = netpath.parse_links(data("drvdom_ip-j-d-s-link_healthy.txt"))
    assert sorted(links) == ["eth0", "lo", "vif2.0", "vif3.0", "xenbr0"]
    eth0 = links["eth0"]
    assert (eth0.mtu, eth0.up, eth0.carrier, eth0.master) == (1500, True, True, "xenbr0")
    assert eth0.port == PortSettings()   # forwarding, learning, every flood on, not isolated
    assert eth0.rx == Counters(8864, 0, 0) and eth0.tx == Counters(6140, 0, 0)
    assert links["xenbr0"].port is None and not links["xenbr0"].vlan_filtering
    assert links["lo"].port is None and links["lo"].master == ""


def test_links_with_the_faults_made():
    links = netpath.parse_links(data("drvdom_ip-j-d-s-link_faults.txt"))
    assert {n: link.mtu for n, link in links.items() if n != "lo"} == {
        "eth0": 1400, "xenbr0": 1300, "vif2.0": 1500, "vif3.0": 1300}
    assert links["vif2.0"].port == PortSettings(isolated=True)
    assert links["vif3.0"].port == PortSettings(learning=False, flood=False)
    assert links["xenbr0"].vlan_filtering
    assert links["xenbr0"].bridge["nf_call_iptables"] == 0


def test_the_bridge_alone():
    [br] = netpath.parse_links(data("drvdom_ip-j-d-link-show-xenbr0_faults.txt")).values()
    assert (br.name, br.mtu, br.vlan_filtering, br.port) == ("xenbr0", 1300, True, None)
    assert br.rx == Counters()   # read without -s: no counters


def test_vlans_of_each_port():
    untagged_1 = [Vlan(1, pvid=True, untagged=True)]
    assert netpath.parse_vlans(data("drvdom_bridge-j-vlan-show_healthy.txt")) == {
        "eth0": untagged_1, "xenbr0": untagged_1, "vif2.0": untagged_1, "vif3.0": untagged_1}
    faults = netpath.parse_vlans(data("drvdom_bridge-j-vlan-show_faults.txt"))
    assert "vif2.0" not in faults and faults["vif3.0"] == untagged_1
    assert untagged_1[0].describe() == "VLAN 1 (PVID, untagged)"


def test_qdiscs_with_and_without_counters():
    faults = {q.dev: q for q in netpath.parse_qdiscs(data("drvdom_tc-j-s-qdisc-show_faults.txt"))}
    vif3 = faults["vif3.0"]
    assert (vif3.kind, vif3.root, vif3.options, vif3.drops, vif3.packets) == (
        "bfifo", True, {"limit": 1000}, 0, 4)
    assert faults["eth0"].kind == "fq_codel" and faults["eth0"].packets == 6448
    plain = netpath.parse_qdiscs(data("drvdom_tc-j-qdisc-show_healthy.txt"))
    assert [(q.dev, q.kind, q.drops, q.packets) for q in plain] == [
        ("lo", "noqueue", 0, 0), ("eth0", "fq_codel", 0, 0), ("xenbr0", "noqueue", 0, 0),
        ("vif2.0", "fq_codel", 0, 0), ("vif3.0", "fq_codel", 0, 0)]


def test_read_sends_only_bounded_reads_and_notes_absent_tools():
    runner = recorded("healthy")   # read-only: a command marked as a change would be refused
    snap = netpath.read(runner, "xenbr0")
    assert runner.sent == READS
    assert runner.timeouts == [netpath.TIMEOUT] * len(READS)
    assert snap.links["vif3.0"].master == "xenbr0" and snap.vlans["vif2.0"]
    assert ("00:16:3e:5a:00:01", "vif2.0") in {(e.mac, e.ifname) for e in snap.fdb}
    assert snap.unread["nft"] == "not installed" and snap.unread["iptables"] == "not installed"
    assert snap.xtables == {} and snap.nft == [] and not snap.brnf_loaded


def test_read_goes_on_past_a_command_that_hangs():
    def hangs(command):
        raise CommandTimeout(f"`{command}` did not finish")

    runner = recorded("faults")
    runner.answers[READS[2]] = hangs
    snap = netpath.read(runner, "xenbr0")
    assert snap.unread["tc qdisc"] == f"timed out after {netpath.TIMEOUT:g} s"
    assert snap.qdiscs == [] and snap.links["eth0"].mtu == 1400
    assert runner.sent == READS


def test_a_bridge_name_is_validated_before_any_command():
    runner = recorded("healthy")
    with pytest.raises(InventoryError, match="bridge"):
        netpath.read(runner, "xenbr0; reboot")
    assert runner.sent == []
