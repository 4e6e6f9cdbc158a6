"""Parsers on outputs recorded from the real lab's Dom0 (tests/data, see its README)."""

from tests.support import data
from xenaccept.resources import kernel, pci, xl




def test_lspci_nnk_of_the_nic_on_its_native_driver():
    [dev] = pci.parse_lspci_nnk(data("dom0_lspci-nnk-s-00-05.0_e1000.txt"))
    assert dev.slot == "00:05.0"
    assert dev.class_code == "0200" and dev.class_name == "Ethernet controller"
    assert dev.vendor_device == "8086:100e"
    assert dev.description == "Intel Corporation 82540EM Gigabit Ethernet Controller"
    assert dev.driver == "e1000" and dev.modules == ("e1000",)


def test_lspci_nn_lists_every_device_without_drivers():
    devs = pci.parse_lspci_nnk(data("dom0_lspci-nn_e1000.txt"))
    assert [d.slot for d in devs] == ["00:00.0", "00:03.0", "00:05.0", "00:06.0", "00:07.0",
                                      "00:1f.0", "00:1f.2", "00:1f.3"]
    assert {d.vendor_device for d in devs} >= {"1af4:1000", "8086:100e", "1af4:1001"}
    assert all(d.driver is None for d in devs)
    sata = devs[6]
    assert sata.vendor_device == "8086:2922"  # a description with brackets inside
    assert sata.description.endswith("6 port SATA Controller [AHCI mode]")


def test_xl_info():
    info = xl.parse_info(data("dom0_xl-info_e1000.txt"))
    assert info["xen_version"] == "4.17.5"
    assert set(info["virt_caps"].split()) >= {"hvm_directio", "pv_directio"}
    assert info["xen_changeset"] == ""
    assert "spec-ctrl=eager-fpu" in info["xen_commandline"]
    assert info["cc_compile_date"] == "Sat Nov 29 13:52:25 UTC 2025"  # value with colons


def test_xl_list_with_dom0_only():
    [d0] = xl.parse_list(data("dom0_xl-list_e1000.txt"))
    assert (d0.name, d0.domid, d0.memory, d0.vcpus, d0.state) == ("Domain-0", 0, 1024, 2, "r-----")


def test_empty_assignable_list_and_slots():
    assert xl.parse_bdfs(data("dom0_xl-pci-assignable-list_e1000.txt")) == []
    assert pci.parse_pciback_slots(data("dom0_pciback-slots_e1000.txt")) == []


def test_kernel_config_and_cmdline():
    conf = kernel.parse_config(data("dom0_kernel-config-grep_e1000.txt"),
                               "XEN_PCIDEV_BACKEND", "XEN_NETDEV_BACKEND", "E1000", "NOPE")
    assert conf == {"XEN_PCIDEV_BACKEND": "m", "XEN_NETDEV_BACKEND": "m", "E1000": "m",
                    "NOPE": None}
    cmdline = data("dom0_proc-cmdline_e1000.txt")
    assert kernel.parse_cmdline(cmdline)["root"] == "/dev/vda"
    assert kernel.hidden_bdfs(cmdline) == []
    assert kernel.hidden_bdfs(cmdline.strip() + " xen-pciback.hide=(00:05.0)(0000:03:00.1)") \
        == ["0000:00:05.0", "0000:03:00.1"]
