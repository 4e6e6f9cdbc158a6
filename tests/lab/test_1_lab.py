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
    writes from the host and the NIC alone is the minimal one and loads."""
    import sys

    from xenaccept.model import inventory

    from .conftest import ROOT
    d = lab.target.dom0
    out = tmp_path / "inventory.yaml"
    p = subprocess.run([sys.executable, "-m", "xenaccept", "init", d.host, "--port",
                        str(d.port), "--key-file", d.key_file, "--known-hosts", d.known_hosts,
                        "--ssh-config", "", "--output", str(out)], cwd=ROOT, text=True,
                       capture_output=True,
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
    # the host and the NIC are all it needs: the driver domain is reached where it says
    assert t.driver_domain.built and t.driver_domain.published and t.guests.built
    refused = subprocess.run([sys.executable, "-m", "xenaccept", "init", d.host, "--port",
                              str(d.port), "--key-file", d.key_file, "--known-hosts",
                              d.known_hosts, "--ssh-config", "", "--device", "0000:00:03.0",
                              "--output", str(tmp_path / "no.yaml")], cwd=ROOT, text=True,
                             capture_output=True, timeout=120)
    assert refused.returncode != 0 and not (tmp_path / "no.yaml").exists()
    print(refused.stderr)


def test_update_grub_in_dom0_writes_the_grub_cfg_the_build_wrote(lab):
    """The build installs GRUB without booting (its update-grub ran in a chroot, asking a
    stand-in grub-probe): Debian's update-grub run in Dom0, as an operator runs it, must
    write the very same grub.cfg, and GRUB's files must be where grub-install puts them."""
    r = SSHRunner("dom0", lab.target.dom0, read_only=False)
    try:
        before = r.out("sha256sum", "/boot/grub/grub.cfg").split()[0]
        files = r.out("ls", "/boot/grub", "/boot/grub/i386-pc").split()
        probe = r.out("grub-probe", "--target=fs_uuid", "/")
        upd = r.run("update-grub", mutates=True, timeout=300)
        after = r.out("sha256sum", "/boot/grub/grub.cfg").split()[0]
        cfg = r.out("cat", "/boot/grub/grub.cfg")
    finally:
        r.close()
    assert upd.ok, upd.stderr
    assert before == after, f"update-grub in Dom0 wrote another grub.cfg:\n{cfg[:3000]}"
    assert probe.strip() in cfg
    assert {"grubenv", "core.img", "boot.img", "normal.mod", "ext2.mod"} <= set(files), files


def _serial_shows(path, text: str, deadline_s: float) -> bool:
    import time
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        try:
            if text in path.read_text(errors="replace"):
                return True
        except OSError:
            pass
        time.sleep(0.2)
    return False


def test_a_stuck_boot_is_caught_in_seconds_retried_and_reported(labs):
    """A boot made to hang for real: once Dom0's kernel prints, QEMU's vCPUs are stopped
    through its monitor (the console then goes silent, as in the hang a newcomer met:
    15 minutes of silence 6.6 s into Dom0's kernel). `up` must call it stuck after the
    chosen silence, say where the console stopped and why, keep the console, and boot
    again by itself."""
    import re
    import sys
    import threading
    import time

    from .conftest import ROOT, XENLAB, xenlab
    sys.path.insert(0, str(ROOT / "lab"))
    from xenlab_lib import console, qemu
    labs.stop()
    from xenaccept.model import inventory
    rund = inventory.lab_inventory(ROOT).parent
    for old in rund.glob("serial.stuck-*.log"):
        old.unlink()
    serial = rund / "serial.log"
    serial.unlink(missing_ok=True)
    p = subprocess.Popen([sys.executable, str(XENLAB), "up", "--cold"], cwd=ROOT, text=True,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    lines: list[tuple[float, str]] = []
    reader = threading.Thread(target=lambda: lines.extend(
        (time.monotonic(), ln) for ln in p.stdout), daemon=True)
    reader.start()
    try:
        assert _serial_shows(serial, "Linux version", 300), "Dom0's kernel never started"
        assert _serial_shows(serial, "] ", 60)
        qemu.monitor_cmd(rund, "stop", timeout=10)  # the lab's HMP client: answered = done
        stopped = time.monotonic()
        rc = p.wait(timeout=900)
    finally:
        if p.poll() is None:
            p.kill()
    reader.join(timeout=10)
    out = "\n".join(ln.rstrip() for _, ln in lines)
    print(out)
    assert rc == 0, "the retried boot did not come up"
    found = [(t, ln) for t, ln in lines if "LAB FAULT [stuck boot]" in ln]
    assert len(found) == 1, out
    t_found, report = found[0]
    silent = float(re.search(r"printed nothing for (\d+) s", report).group(1))
    assert console.SILENCE_S <= silent <= console.SILENCE_S + 5, report
    # caught within the chosen silence (plus the watch's poll and QEMU's diagnosis)
    assert t_found - stopped <= console.SILENCE_S + 10, t_found - stopped
    assert "Dom0's kernel" in report and "paused" in report, report
    kept = rund / "serial.stuck-1.log"
    assert kept.is_file() and str(kept) in report
    tail = kept.read_text(errors="replace").strip().splitlines()[-1].strip()
    assert tail and tail in out, "the console's last line is not in the report"
    assert "retrying the boot once" in out
    assert "Dom0 answers over SSH" in out
    assert "stuck boot" in xenlab("faults", timeout=120).stdout
    xenlab("down", timeout=120)
