"""What tells a present-but-broken setup apart, on outputs recorded from the lab (healthy,
and with the faults of the detection matrix made for real), and the runner's once-reads."""

import os

import pytest

from tests.support import FakeRunner, data
from xenaccept.resources import bridge, hotplug, kernel, pci, xenstore, xl
from xenaccept.transport.runner import LocalRunner




def test_vif_backends_read_from_dom0_with_their_state_and_hotplug_status():
    backends = xenstore.parse_backends(data("dom0_xenstore-ls-f-backend-vif_assigned-running.txt"))
    assert sorted(backends) == [(2, 0), (3, 0)]
    be = backends[(2, 0)]
    assert be.state == 4 and be.nodes["hotplug-status"] == "connected"
    assert be.nodes["frontend"] == "/local/domain/2/device/vif/0"
    assert xenstore.xenbus_state(be.state) == "4 (Connected)" and xenstore.xenbus_state(None) == "absent"
    [(key, pcib)] = xenstore.parse_backends(
        data("dom0_xenstore-ls-f-backend-pci_assigned-running.txt")).items()
    assert key == (1, 0) and pcib.state == 4  # Dom0's PCI backend of domain 1, Connected


def test_the_files_a_config_boots_from():
    conf = xl.parse_config(
        'kernel = "/boot/vmlinuz-6.1.0-50-amd64"\nramdisk = "/var/lib/x/initrd.img"\n'
        "disk = [ 'format=raw,vdev=xvda,access=rw,target=/var/lib/x/root.img', "
        "'phy:/dev/vg/dd,xvdb,w', 'vdev=xvdc,devtype=cdrom' ]\n")
    assert xl.boot_files(conf) == ["/boot/vmlinuz-6.1.0-50-amd64", "/var/lib/x/initrd.img",
                                   "/var/lib/x/root.img", "/dev/vg/dd"]


def test_xl_list_states_in_words():
    assert xl.state_words("--p---") == "paused"
    assert xl.state_words("-b----") == "blocked (idle)"
    assert xl.state_words("------") == "no state flag (waiting for a CPU)"


def test_bridge_ports_with_flags_learning_and_which_bridge():
    healthy = bridge.parse_bridge_link(data("drvdom_bridge-j-d-link.txt"))
    assert [(p.ifname, p.master, p.state) for p in healthy] == [
        ("eth0", "xenbr0", "forwarding"), ("vif2.0", "xenbr0", "forwarding"),
        ("vif3.0", "xenbr0", "forwarding")]
    assert all(p.trouble() is None and p.learning for p in healthy)
    # made on the lab: vif2.0's port disabled, vif3.0 moved to another bridge
    faults = {p.ifname: p for p in bridge.parse_bridge_link(data("drvdom_bridge-j-d-link_faults.txt"))}
    assert faults["vif2.0"].trouble() == "port state disabled"
    assert faults["vif3.0"].master == "xenbr1"
    down = bridge.Port("vif3.0", "xenbr0", "disabled", ("BROADCAST", "MULTICAST", "UP"), False)
    assert down.trouble() == "no carrier (its other end is not connected), port state " \
        "disabled, learning off"
    assert down.trouble(learning=False).endswith("port state disabled")


def test_fdb_entries_say_how_long_ago_a_frame_refreshed_them():
    entries = bridge.parse_fdb(data("drvdom_bridge-j-s-fdb-show-br-xenbr0.txt"))
    learned = {e.mac: e for e in entries if not e.permanent}
    guest = learned["00:16:3e:5a:00:01"]
    assert guest.ifname == "vif2.0" and guest.updated is not None and guest.updated <= 5
    assert all(e.updated is None for e in bridge.parse_fdb(
        data("drvdom_bridge-j-fdb-show-br-xenbr0.txt")))  # without -s: no age


def test_a_stopped_xl_devd_is_still_listed_and_its_state_says_stopped():
    ps = data("drvdom_ps-pid-stat-args_devd-stopped.txt")
    hp = hotplug.Hotplug(FakeRunner("drvdom", {"ps -eo pid=,stat=,args=": ps}))
    [pid] = hp.devd_pids()
    assert hp.process_states()[pid].startswith("T")


def test_hotplug_closure_modes_and_syntax_in_two_reads(tmp_path):
    d = tmp_path / "scripts"
    d.mkdir()
    (d / "vif-bridge").write_text('#!/bin/bash\ndir=$(dirname "$0")\n. "$dir/vif-common.sh"\n')
    os.chmod(d / "vif-bridge", 0o755)
    (d / "vif-common.sh").write_text('. "$dir/xen-network-common.sh"\n')
    (d / "xen-network-common.sh").write_text("x() { :; }\nif then\n")
    runner = LocalRunner("drvdom", read_only=True)
    hp = hotplug.Hotplug(runner, str(d))
    names = hp.closure("vif-bridge")
    assert names == ["vif-bridge", "vif-common.sh", "xen-network-common.sh"]
    assert [(s.present, s.executable) for s in hp.states(names)] == [
        (True, True), (True, False), (True, False)]
    errors = hp.syntax_errors(names)
    assert list(errors) == ["xen-network-common.sh"] and "line 2: syntax error" in \
        errors["xen-network-common.sh"]
    assert len(runner.transcript.sent()) == 2  # one listing, one syntax pass
    with pytest.raises(ValueError):
        hp.syntax_errors(["../x"])


def test_modprobe_rules_that_keep_a_module_from_loading():
    text = ("/etc/modprobe.d/local.conf:install xen_pciback /bin/false\n"
            "/etc/modprobe.d/local.conf:blacklist xen-netback\n"
            "/lib/modprobe.d/aliases.conf:install xen-pciback /sbin/modprobe --ignore-install "
            "xen-pciback && echo loaded\n"
            "/etc/modprobe.d/other.conf:blacklist pcspkr\n")
    assert kernel.parse_modprobe_rules(text, "xen-pciback") == [
        "/etc/modprobe.d/local.conf: install xen_pciback /bin/false"]
    assert kernel.parse_modprobe_rules(text, "xen_netback") == [
        "/etc/modprobe.d/local.conf: blacklist xen-netback"]
    assert kernel.parse_modprobe_rules(text, "e1000") == []
    assert kernel.cmdline_blacklist("root=/dev/xvda modprobe.blacklist=e1000,xen_netback",
                                    "xen-netback")
    assert not kernel.cmdline_blacklist(data("dom0_proc-cmdline_hidden.txt"), "xen-pciback")


def test_a_device_sysfs_in_one_read():
    assert pci.parse_sysfs("exists=1\ndriver=../../../bus/pci/drivers/pciback\n"
                           "vendor=0x8086\ndevice=0x100e\nnet=\n") == \
        pci.Sysfs(True, "pciback", "8086:100e", ())
    assert pci.parse_sysfs("exists=1\ndriver=\nvendor=0x8086\ndevice=0x100e\nnet=eth0 \n") \
        == pci.Sysfs(True, None, "8086:100e", ("eth0",))
    assert pci.parse_sysfs("exists=0\n") == pci.Sysfs(False, None, None, ())


def test_a_read_only_runner_sends_a_once_read_once_and_records_each_use(tmp_path):
    counter = tmp_path / "n"
    script = f'echo x >> {counter}; wc -l < {counter}'
    ro = LocalRunner("dom0", read_only=True)
    first, again = (ro.run("sh", "-c", script, once=True) for _ in range(2))
    assert first.stdout == again.stdout == "1\n" and again.reused and not first.reused
    assert len(ro.transcript.entries) == 2 and len(ro.transcript.sent()) == 1
    assert ro.run("sh", "-c", script).stdout == "2\n"  # not a once-read: sent
    ro.close()  # the host may have changed while away: asked again
    assert ro.run("sh", "-c", script, once=True).stdout == "3\n"
    rw = LocalRunner("dom0", read_only=False)  # a run that changes hosts reads every time
    assert [rw.run("sh", "-c", script, once=True).stdout for _ in range(2)] == ["4\n", "5\n"]
