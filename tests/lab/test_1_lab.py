"""The lab itself: a real Xen host, reachable only with its own host keys."""

import subprocess

import pytest

from xenaccept.errors import HostKeyError
from xenaccept.ssh import SSHRunner, SSHSpec
from xenaccept.xl import Xl

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
