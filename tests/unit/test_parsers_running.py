"""Parsers on outputs recorded from the real lab with the driver domain and two guests up."""

from tests.support import data
from xenaccept.resources import bridge, hotplug, kernel, pci, process, xl




def test_xl_list_with_driver_domain_and_guests():
    doms = xl.parse_list(data("dom0_xl-list_assigned-running.txt"))
    assert [(d.name, d.domid) for d in doms] == [("Domain-0", 0), ("drvdom", 1), ("guest1", 2),
                                                 ("guest2", 3)]
    assert doms[1].memory == 1024 and doms[1].state == "-b----"


def test_assignable_list_hidden_then_assigned():
    assert xl.parse_bdfs(data("dom0_xl-pci-assignable-list_hidden.txt")) == ["0000:00:05.0"]
    # once passed through, the device is no longer "assignable": xl pci-list shows it
    assert xl.parse_bdfs(data("dom0_xl-pci-assignable-list_assigned-running.txt")) == []
    assert xl.parse_bdfs(data("dom0_xl-pci-list-drvdom_assigned-running.txt")) == ["0000:00:05.0"]


def test_pciback_slots_and_lspci_when_hidden():
    assert pci.parse_pciback_slots(data("dom0_pciback-slots_hidden.txt")) == ["0000:00:05.0"]
    [dev] = pci.parse_lspci_nnk(data("dom0_lspci-nnk-s-00-05.0_hidden.txt"))
    assert dev.driver == "pciback" and dev.modules == ("e1000",)


def test_network_list_names_the_backend_domain():
    [vif] = xl.parse_network_list(data("dom0_xl-network-list-guest1_assigned-running.txt"))
    assert (vif.devid, vif.backend_domid, vif.mac, vif.state) == (0, 1, "00:16:3e:5a:00:01", 4)


def test_the_device_inside_the_driver_domain():
    [dev] = pci.parse_lspci_nnk(data("drvdom_lspci-nnk.txt"))
    assert dev.slot == "00:00.0"  # another address than in Dom0 (pcifront's virtual bus)
    assert dev.vendor_device == "8086:100e" and dev.driver == "e1000"


def test_bridge_link_json():
    ports = bridge.parse_bridge_link(data("drvdom_bridge-j-link.txt"))
    assert [(p.ifname, p.master, p.state) for p in ports] == [
        ("eth0", "xenbr0", "forwarding"), ("vif2.0", "xenbr0", "forwarding"),
        ("vif3.0", "xenbr0", "forwarding")]


def test_fdb_learned_entries_only():
    entries = bridge.parse_fdb(data("drvdom_bridge-j-fdb-show-br-xenbr0.txt"))
    learned = {(e.mac, e.ifname) for e in entries if not e.permanent}
    assert ("00:16:3e:5a:00:01", "vif2.0") in learned
    assert ("00:16:3e:5a:00:02", "vif3.0") in learned
    # the vif's own fe:ff:ff:ff:ff:ff and the bridge's address are permanent, not learned
    assert not any(mac == "fe:ff:ff:ff:ff:ff" for mac, _ in learned)
    assert not any(mac == "52:54:00:5a:00:05" for mac, _ in learned)
    # the state and flags as printed: a port's own MAC, and the NIC's own (self) table
    own = {(e.mac, e.ifname, e.state, e.flags) for e in entries if e.permanent}
    assert ("fe:ff:ff:ff:ff:ff", "vif2.0", "permanent", ()) in own
    assert ("33:33:00:00:00:01", "eth0", "permanent", ("self",)) in own


def test_brctl_show_with_several_ports_on_continuation_lines():
    assert bridge.parse_brctl_show(data("drvdom_brctl-show.txt")) == {
        "xenbr0": ["eth0", "vif2.0", "vif3.0"]}


def test_exact_membership_is_not_a_substring_match():
    # what a grep of `brctl show` gets wrong: vif2.0 is not a port named vif2
    ports = bridge.parse_brctl_show(data("drvdom_brctl-show.txt"))["xenbr0"]
    assert "vif2" not in ports and "vif2.0" in ports
    brif = data("drvdom_ls-xenbr0-brif.txt").split()
    assert sorted(brif) == sorted(ports)


def test_xl_devd_process_found_by_argv_not_by_grep():
    # the recording holds the grep that looked for it, too: only the daemon counts
    procs = process.parse_ps(data("drvdom_ps-xl-devd.txt"), with_stat=False)
    assert hotplug.devd_pids(procs) == [404]


def test_ps_with_states_is_read_by_the_same_parser():
    # the suite's own read (pid, stat, args): the stopped daemon with its state, and the
    # shell that stopped it (its argv names xl, but is not xl) not counted
    procs = process.parse_ps(data("drvdom_ps-pid-stat-args_devd-stopped.txt"))
    assert hotplug.devd_pids(procs) == [230]
    assert {p.pid: p.stat for p in procs}[230] == "Tsl"
    assert process.Process(1, "Ss", ["/sbin/init"]) in procs


def test_vif_bridge_sources_its_helpers():
    text = '#!/bin/bash\ndir=$(dirname "$0")\n. "$dir/vif-common.sh"\n' \
           'source "${dir}/locking.sh"\n# . "$dir/commented.sh"\n'
    assert hotplug.parse_sourced(text) == ["vif-common.sh", "locking.sh"]


def test_same_kernel_release_recorded_in_both_domains():
    assert data("dom0_uname-r_e1000.txt").strip() == data("drvdom_uname-r.txt").strip()
    assert kernel.hidden_bdfs(data("dom0_proc-cmdline_hidden.txt")) == ["0000:00:05.0"]
