"""The lab itself: a real Xen host, reachable only with its own host keys."""

import subprocess

import pytest

from xenaccept.errors import HostKeyError
from xenaccept.transport.ssh import SSHRunner
from xenaccept.model.ssh import SSHSpec
from xenaccept.resources.xl import Xl

pytestmark = pytest.mark.lab


def test_dom0_answers_over_ssh_with_its_host_key_verified(lab):
    r = lab.dom0()
    try:
        assert r.run("xl", "info").ok
        assert r.connects == 1
    finally:
        r.close()
    print(f"lab up in {lab.up_seconds:.1f} s")


def _spec_with(lab, known_hosts: str) -> SSHSpec:
    s = lab.target.dom0
    return SSHSpec(s.host, s.port, s.user, s.key_file, known_hosts, connect_timeout=10)


def test_an_unknown_host_key_is_refused(lab, tmp_path):
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    r = SSHRunner("dom0", _spec_with(lab, str(empty)), read_only=True)
    with pytest.raises(HostKeyError, match="UNKNOWN"):
        r.run("true")


def test_a_changed_host_key_is_refused(lab, tmp_path):
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "k")],
                   check=True)
    pub = (tmp_path / "k.pub").read_text().split()
    s = lab.target.dom0
    forged = tmp_path / "known_hosts"
    forged.write_text(f"[{s.host}]:{s.port} {pub[0]} {pub[1]}\n")
    r = SSHRunner("dom0", _spec_with(lab, str(forged)), read_only=True)
    with pytest.raises(HostKeyError, match="CHANGED"):
        r.run("true")


def test_xen_offers_pci_passthrough_through_the_iommu(lab):
    r = lab.dom0()
    try:
        caps = Xl(r).virt_caps()
        dmesg = r.out("xl", "dmesg")
    finally:
        r.close()
    assert {"hvm_directio", "pv_directio"} <= caps, caps
    assert "Intel VT-d" in dmesg


def test_the_host_boots_like_hardware_through_grub_from_its_disk(lab):
    """SeaBIOS, GRUB from the disk's MBR, the Xen entry update-grub wrote: so bootloader and
    initramfs changes take effect at a reboot, as on a real host."""
    r = lab.dom0()
    try:
        dmesg = r.out("xl", "dmesg")
        cmdline = r.out("cat", "/proc/cmdline")
        entry = r.out("grep", "-m1", "-E", "multiboot2[[:space:]]+/boot/xen", "/boot/grub/grub.cfg")
    finally:
        r.close()
    assert "Bootloader: GRUB 2" in dmesg, dmesg[:2000]
    assert cmdline.startswith("placeholder root=UUID="), cmdline  # update-grub's Dom0 line
    assert "/boot/xen-4.17-amd64.gz" in entry and "iommu=1" in entry, entry


def test_the_nic_is_in_dom0_on_its_native_driver(lab):
    r = lab.dom0()
    bdf = lab.target.device.bdf
    try:
        lspci = r.out("lspci", "-D", "-nnk", "-s", bdf)
        driver = r.out("readlink", f"/sys/bus/pci/devices/{bdf}/driver")
    finally:
        r.close()
    assert lspci.startswith(bdf) and "[8086:100e]" in lspci, lspci
    assert driver.strip().endswith("/e1000"), driver


def test_init_lists_the_nics_and_writes_a_minimal_inventory(lab, tmp_path):
    """`python -m xenaccept init` against the plain lab: host key verified, the e1000
    offered, Dom0's own virtio NIC (its route) marked and never offered; the inventory it
    writes is the minimal one and loads."""
    import sys

    from xenaccept.model import inventory

    from .conftest import ROOT
    d = lab.target.dom0
    out = tmp_path / "inventory.yaml"
    p = subprocess.run([sys.executable, "-m", "xenaccept", "init", d.host, "--port",
                        str(d.port), "--key-file", d.key_file, "--known-hosts", d.known_hosts,
                        "--ssh-config", "", "--driver-domain-ssh", "127.0.0.1:2299",
                        "--output", str(out)], cwd=ROOT, text=True, capture_output=True,
                       timeout=120)
    print(p.stdout, p.stderr)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    nic = next(x for x in lines if "0000:00:05.0" in x)
    mgmt = next(x for x in lines if "0000:00:03.0" in x)
    assert "e1000" in nic and "8086:100e" in nic
    assert "never offered" in mgmt, mgmt  # carries Dom0's own traffic
    assert "never offered" not in nic, nic
    assert "IOMMU: in use" in p.stdout
    [t] = inventory.load(out)
    assert t.device.bdf == "0000:00:05.0" and t.device.native_driver is None
    assert (t.dom0.host, t.dom0.port) == (d.host, d.port)
    assert t.driver_domain.built and t.guests.built
    refused = subprocess.run([sys.executable, "-m", "xenaccept", "init", d.host, "--port",
                              str(d.port), "--key-file", d.key_file, "--known-hosts",
                              d.known_hosts, "--ssh-config", "", "--device", "0000:00:03.0",
                              "--output", str(tmp_path / "no.yaml")], cwd=ROOT, text=True,
                             capture_output=True, timeout=120)
    assert refused.returncode != 0 and not (tmp_path / "no.yaml").exists()
    print(refused.stderr)
