"""`python -m xenaccept init`: its parsers on outputs shaped like Debian 12's, its choices and
its argument handling (a canned runner stands in for Dom0)."""

import argparse

import pytest
import yaml

from tests.support import FakeRunner, data
from xenaccept.cli import init
from xenaccept.model import inventory
from xenaccept.resources import pci
from xenaccept.cli.main import main
from xenaccept.errors import InventoryError
from xenaccept.model.ssh import SSHSpec
from xenaccept.resources.xl import parse_info


# PCI_SCRIPT on the lab's Dom0: virtio NIC for Dom0, e1000 for the driver domain
PCI = """\
0000:00:00.0 0x060000 0x8086 0x29c0 
0000:00:01.0 0x030000 0x1234 0x1111 ../../../bus/pci/drivers/bochs-drm
0000:00:03.0 0x020000 0x1af4 0x1000 ../../../bus/pci/drivers/virtio-pci
0000:00:05.0 0x020000 0x8086 0x100e ../../../bus/pci/drivers/e1000
0000:00:06.0 0x010000 0x1af4 0x1001 ../../../bus/pci/drivers/virtio-pci
0000:00:1f.2 0x010601 0x8086 0x2922 ../../../bus/pci/drivers/ahci
"""
PCI_HIDDEN = PCI.replace("drivers/e1000", "drivers/pciback")

LSPCI_MM = """\
0000:00:00.0 "Host bridge [0600]" "Intel Corporation [8086]" "82G33/G31/P35/P31 Express DRAM Controller [29c0]" "Red Hat, Inc. [1af4]" "QEMU Virtual Machine [1100]"
0000:00:03.0 "Ethernet controller [0200]" "Red Hat, Inc. [1af4]" "Virtio network device [1000]" "Red Hat, Inc. [1af4]" "Device [0001]"
0000:00:05.0 "Ethernet controller [0200]" "Intel Corporation [8086]" "82540EM Gigabit Ethernet Controller [100e]" -r03 "Red Hat, Inc. [1af4]" "QEMU Virtual Machine [1100]"
0000:00:1f.2 "SATA controller [0106]" "Intel Corporation [8086]" "82801IR/IO/IH (ICH9R/DO/DH) 6 port SATA Controller [AHCI mode] [2922]" -r02 -p01 "Red Hat, Inc. [1af4]" "QEMU Virtual Machine [1100]"
"""

# NET_SCRIPT: a virtio NIC's interface hangs below BDF/virtioN
NET = """\
eth0 /sys/devices/pci0000:00/0000:00:03.0/virtio0
eth1 /sys/devices/pci0000:00/0000:00:05.0
lo /sys/devices/virtual/net/lo/device
xenbr0 /sys/devices/virtual/net/xenbr0/device
"""

ROUTE4 = '[{"dst":"default","gateway":"10.0.2.2","dev":"eth0","protocol":"dhcp",' \
         '"prefsrc":"10.0.2.15","metric":1024,"flags":[]}]\n'
ROUTE6 = '[{"dst":"default","gateway":"fe80::2","dev":"eth0","protocol":"ra","metric":1024,' \
         '"flags":[],"pref":"medium"}]\n'
MULTIPATH = '[{"dst":"default","flags":[],"nexthops":[{"gateway":"10.0.0.1","dev":"eth2",' \
            '"weight":1,"flags":[]},{"gateway":"10.0.1.1","dev":"eth3","weight":1,"flags":[]}]}]'
ADDR = ('[{"ifindex":1,"ifname":"lo","addr_info":[{"family":"inet","local":"127.0.0.1",'
        '"prefixlen":8,"scope":"host","label":"lo"},{"family":"inet6","local":"::1",'
        '"prefixlen":128,"scope":"host"}]},'
        '{"ifindex":2,"ifname":"eth0","mtu":1500,"operstate":"UP","addr_info":[{"family":'
        '"inet","local":"10.0.2.15","prefixlen":24,"broadcast":"10.0.2.255","scope":"global",'
        '"dynamic":true,"label":"eth0"},{"family":"inet6","local":"fec0::5054:ff:fe12:3456",'
        '"prefixlen":64,"scope":"site"}]},'
        '{"ifindex":3,"ifname":"eth1","mtu":1500,"operstate":"UP","addr_info":[{"family":'
        '"inet","local":"192.168.50.2","prefixlen":24,"scope":"global","label":"eth1"}]}]\n')
LINK = ('[{"ifindex":1,"ifname":"lo","flags":["LOOPBACK","UP","LOWER_UP"]},'
        '{"ifindex":2,"ifname":"eth0","flags":["UP"],"operstate":"UP"},'
        '{"ifindex":3,"ifname":"eth1","flags":["UP"],"operstate":"UP"}]\n')
# Dom0's address on a bridge that holds the NIC
LINK_BRIDGED = ('[{"ifindex":2,"ifname":"eth0","master":"xenbr0","operstate":"UP"},'
                '{"ifindex":3,"ifname":"eth1","operstate":"UP"},'
                '{"ifindex":4,"ifname":"xenbr0","operstate":"UP"}]')
LINK_VLAN = ('[{"ifindex":3,"ifname":"eth1","operstate":"UP"},'
             '{"ifindex":5,"ifname":"eth1.100","link":"eth1","operstate":"UP"}]')


def test_sysfs_rows_and_lspci_names():
    rows = pci.parse_sysfs_pci(PCI)
    assert ("0000:00:05.0", "0x020000", "8086:100e", "e1000") in rows
    assert ("0000:00:00.0", "0x060000", "8086:29c0", None) in rows
    names = pci.parse_lspci_mm(LSPCI_MM)
    assert names["0000:00:05.0"] == ("0200", "Intel Corporation 82540EM Gigabit Ethernet "
                                              "Controller")
    assert names["0000:00:1f.2"][0] == "0106"


def test_interfaces_found_below_virtio_and_directly():
    assert pci.parse_net_devices(NET) == {"0000:00:03.0": ["eth0"], "0000:00:05.0": ["eth1"]}


def test_route_devices_single_multipath_and_empty():
    assert init.parse_route_devices(ROUTE4) == ["eth0"]
    assert init.parse_route_devices(MULTIPATH) == ["eth2", "eth3"]
    assert init.parse_route_devices("[]\n") == init.parse_route_devices("") == []


def test_ssh_session_address_and_its_interface():
    assert init.parse_ssh_server_address("10.0.2.2 51234 10.0.2.15 22\n") == "10.0.2.15"
    assert init.parse_ssh_server_address("") is None
    assert init.parse_address_owner(ADDR, "10.0.2.15") == "eth0"
    assert init.parse_address_owner(ADDR, "::ffff:192.168.50.2") == "eth1"
    assert init.parse_address_owner(ADDR, "fec0::5054:ff:fe12:3456") == "eth0"
    assert init.parse_address_owner(ADDR, "10.9.9.9") is None


def nics(pci=PCI, link=LINK, route4=ROUTE4, ssh="10.0.2.2 51234 10.0.2.15 22"):
    dom0 = init.dom0_interfaces(route4, "[]", ssh, ADDR)
    return {n.bdf: n for n in init.nics(pci, LSPCI_MM, NET, dom0, link)}


def test_the_nic_of_dom0s_route_is_marked_and_the_other_offered():
    found = nics()
    assert list(found) == ["0000:00:03.0", "0000:00:05.0"]  # class 0x02 only
    assert found["0000:00:03.0"].carries == ("eth0: IPv4 default route",)
    assert not found["0000:00:03.0"].offered
    e1000 = found["0000:00:05.0"]
    assert (e1000.offered, e1000.driver, e1000.interfaces) == (True, "e1000", ("eth1",))


def test_the_ssh_session_interface_counts_too():
    found = nics(route4="[]", ssh="192.168.50.1 40000 192.168.50.2 22")
    assert found["0000:00:05.0"].carries == ("eth1: this SSH session (192.168.50.2)",)
    assert found["0000:00:03.0"].offered


def test_a_nic_below_the_bridge_or_vlan_carrying_the_route_counts():
    dom0 = {"xenbr0": "IPv4 default route"}
    assert init.carried(["eth0"], dom0, init.parse_uppers(LINK_BRIDGED)) == \
        ("eth0: IPv4 default route (through xenbr0)",)
    dom0 = {"eth1.100": "this SSH session (10.1.0.2)"}
    assert init.carried(["eth1"], dom0, init.parse_uppers(LINK_VLAN)) == \
        ("eth1: this SSH session (10.1.0.2) (through eth1.100)",)


def test_a_hidden_nic_has_no_interface_and_is_offered():
    hidden = nics(pci=PCI_HIDDEN)["0000:00:05.0"]
    assert hidden.driver == "pciback" and hidden.offered


def survey(pci=PCI, xl_info=data("dom0_xl-info_e1000.txt")):  # noqa: B008
    return init.Survey("xen1", list(nics(pci).values()),
                       virt_caps=set(parse_info(xl_info)["virt_caps"].split()))


def test_render_shows_the_table_and_the_iommu():
    text = init.render(survey())
    assert "0000:00:05.0  8086:100e  Intel Corporation 82540EM" in text
    assert "YES, never offered: eth0: IPv4 default route" in text
    assert "IOMMU: in use (virt_caps: hvm_directio pv_directio)" in text
    s = survey(xl_info="virt_caps : pv hvm hap shadow\n")
    assert "WARNING: no IOMMU in use" in init.render(s)
    s.virt_caps, s.xl_error = None, "xl: command not found"
    assert "IOMMU: unknown" in init.render(s)


def test_choose_one_candidate_explicit_device_and_refusals():
    s = survey()
    assert init.choose(s, None, None).bdf == "0000:00:05.0"
    assert init.choose(s, "00:05.0", None).bdf == "0000:00:05.0"
    with pytest.raises(InventoryError, match="carries Dom0's own traffic.*cut Dom0 off"):
        init.choose(s, "0000:00:03.0", None)
    with pytest.raises(InventoryError, match="not a network controller"):
        init.choose(s, "0000:00:1f.2", None)
    with pytest.raises(InventoryError, match="is not a PCI address"):
        init.choose(s, "00:05.0; reboot", None)


def test_choose_asks_among_several_and_refuses_when_it_cannot_ask():
    s = survey()
    s.nics.append(init.Nic("0000:03:00.0", "8086:10d3", "Intel 82574L", "e1000e", ("eth2",)))
    with pytest.raises(InventoryError, match="2 candidate NICs.*--device"):
        init.choose(s, None, None)
    answers = iter(["9", "2"])
    assert init.choose(s, None, lambda prompt: next(answers)).bdf == "0000:03:00.0"
    s.nics = s.nics[:1]
    with pytest.raises(InventoryError, match="no NIC of xen1 can be passed through"):
        init.choose(s, None, None)


@pytest.mark.parametrize("host, name", [
    ("xen1.lab", "xen1.lab"), ("my host!", "my-host"), ("dom0", "xen-dom0"),
    ("_x", "x"), ("10.0.0.5", "10.0.0.5"),
])
def test_target_name_from_host(host, name):
    assert inventory.target_name(host) == name


def test_minimal_inventory_alias_only_or_with_options():
    data = yaml.safe_load(init.inventory_yaml("xen1", SSHSpec("xen1"), "00:05.0"))
    assert data == {"targets": [{"name": "xen1", "dom0": "xen1", "device": "0000:00:05.0"}]}
    text = init.inventory_yaml("lab", SSHSpec("127.0.0.1", port=2201, key_file="/k",
                                              known_hosts="/kh"), "0000:00:05.0")
    assert yaml.safe_load(text)["targets"][0]["dom0"] == {
        "host": "127.0.0.1", "port": 2201, "key_file": "/k", "known_hosts": "/kh"}
    assert '"0000:00:05.0"' in text or "'0000:00:05.0'" in text  # a string, whatever YAML 1.1 says


def canned(answers: dict[str, str]) -> FakeRunner:
    """Dom0's answers, by a part of the command; records that nothing changes the host."""
    return FakeRunner("dom0", answers, match="contains",
                      default=lambda command: (127, "", f"{command}: not found"))


def args(*argv):
    p = argparse.ArgumentParser()
    init.add_parser(p.add_subparsers(dest="cmd"))
    return p.parse_args(["init", *argv])


def lab_answers():
    return {"SSH_CONNECTION": "10.0.2.2 51234 10.0.2.15 22",
            "/sys/bus/pci/devices": PCI, "lspci -Dnnmm": LSPCI_MM, "/sys/class/net": NET,
            "ip -j route show default": ROUTE4, "ip -j -6 route": ROUTE6,
            "ip -j addr": ADDR, "ip -j link": LINK,
            "xl info": data("dom0_xl-info_e1000.txt")}


def test_run_prints_the_survey_and_writes_the_inventory(tmp_path):
    out, runner = [], canned(lab_answers())
    seen = []
    rc = init.run(args("lab-dom0", "--output", str(tmp_path / "inv.yaml")), out=out.append,
                  connect=lambda spec: seen.append(spec) or runner)
    assert rc == 0
    assert seen == [SSHSpec("lab-dom0")]
    assert "0000:00:05.0" in out[0] and "wrote" in out[-1]
    assert yaml.safe_load((tmp_path / "inv.yaml").read_text())["targets"][0] == \
        {"name": "lab-dom0", "dom0": "lab-dom0", "device": "0000:00:05.0"}
    # the host and the NIC are enough: the driver domain is reached where it says
    [t] = inventory.load(tmp_path / "inv.yaml")
    assert t.driver_domain.built and t.driver_domain.published
    assert "TODO" not in (tmp_path / "inv.yaml").read_text()
    assert runner.transcript.entries and not runner.transcript.mutating()


def test_run_without_output_writes_nothing_and_says_how(tmp_path):
    out = []
    assert init.run(args("xen1"), out=out.append, connect=lambda s: canned(lab_answers())) == 0
    assert "--output inventory.yaml" in out[-1]
    assert list(tmp_path.iterdir()) == []


def test_arguments_make_the_spec_and_a_bad_one_is_refused_before_connecting(tmp_path):
    a = args("root@xen1", "--port", "2222", "--key-file", "/k", "--known-hosts", "/kh",
             "--ssh-config", "")
    assert init.spec_of(a) == SSHSpec("xen1", port=2222, user="root", key_file="/k",
                                      known_hosts="/kh", ssh_config="")
    with pytest.raises(InventoryError, match="both give a user"):
        init.spec_of(args("root@xen1", "--user", "admin"))

    def never(spec):
        raise AssertionError("connected")
    (tmp_path / "inv.yaml").write_text("keep me")
    with pytest.raises(InventoryError, match="exists; not overwriting"):
        init.run(args("xen1", "--output", str(tmp_path / "inv.yaml")), connect=never)
    with pytest.raises(InventoryError, match="--name"):
        init.run(args("xen1", "--name", "a b"), connect=never)


def test_main_reports_an_error_with_status_2(tmp_path, capsys):
    assert main(["init", "xen1", "--name", "Domain-0"]) == 2
    assert "xenaccept init: --name: 'Domain-0' names Dom0" in capsys.readouterr().err
