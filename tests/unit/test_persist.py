"""The persistent mode's files and its byte-exact undo, without a host: the texts it writes
checked by the tools that read them (sh, and systemd's own `$` rule), the undo's decisions
on a runner that records what it is told."""

import re
import subprocess

import pytest

from tests.support import FakeRunner
from xenaccept import names
from xenaccept.provision.persist import bootentry, templates
from xenaccept.provision.persist import record as boot_record

BDF = "0000:00:05.0"


def recorder(answers: dict[str, tuple[int, str]]) -> FakeRunner:
    """Records every command; answers from {command prefix: (rc, stdout)}, 0 otherwise."""
    return FakeRunner("dom0", answers, read_only=False, match="prefix", default="")


def sourced(dropin: str, before: str) -> str:
    """Dom0's command line of the Xen entries, as 20_linux_xen computes it, after GRUB's
    defaults (``before``) and the drop-in are sourced."""
    script = (before + "\n" + dropin +
              '\n[ -n "$GRUB_CMDLINE_LINUX_XEN_REPLACE" ] && '
              'GRUB_CMDLINE_LINUX="$GRUB_CMDLINE_LINUX_XEN_REPLACE"\necho "$GRUB_CMDLINE_LINUX"')
    return subprocess.run(["sh", "-c", script], capture_output=True, text=True,
                          check=True).stdout.strip()


def test_the_grub_dropin_appends_the_hide_to_dom0s_line_only():
    dropin = templates.grub_dropin(BDF)
    assert sourced(dropin, 'GRUB_CMDLINE_LINUX="console=hvc0 quiet"') == \
        f"console=hvc0 quiet xen-pciback.hide=({BDF})"
    # an operator's own Xen-only line is kept and extended
    assert sourced(dropin, 'GRUB_CMDLINE_LINUX="a"\nGRUB_CMDLINE_LINUX_XEN_REPLACE="b"') == \
        f"b xen-pciback.hide=({BDF})"


def test_the_autostart_script_starts_the_driver_domain_first_and_parses(tmp_path):
    text = templates.autostart_script({"drvdom": "/etc/xen/drvdom.cfg",
                                     "g 1": "/etc/xen/g 1.cfg"}, "drvdom", ["g 1"])
    script = tmp_path / "autostart"
    script.write_text(text)
    subprocess.run(["sh", "-n", str(script)], check=True)
    start = text[text.index("start() {"):text.index("stop() {")]
    assert start.index("xl create /etc/xen/drvdom.cfg") < start.index(names.READY_KEY) \
        < start.index("xl create '/etc/xen/g 1.cfg'")
    stop = text[text.index("stop() {"):]
    assert stop.index("xl destroy 'g 1'") < stop.index("xl shutdown -w drvdom")


FAKE_XL = """#!/bin/sh
# xl as the stop sees it: a domain shut down stays listed until destroyed
d="$XL_DOMAINS"
case "$1" in
    domid) [ -e "$d/$2" ] ;;
    destroy) echo "destroy $2" >> "$d.log"; [ -e "$d/$2" ] && rm "$d/$2" ;;
    shutdown) echo "shutdown $3" >> "$d.log"; [ -e "$d/$3" ] && echo shutdown > "$d/$3" ;;
    *) exit 2 ;;
esac
"""


def test_the_autostart_stop_leaves_no_domain_for_xendomains_to_save(tmp_path):
    # found on the lab: after `xl shutdown -w` the driver domain stays listed, shut down,
    # until the toolstack destroys it; Debian's xendomains, stopped right after the unit,
    # saved it to /var/lib/xen/save, and tried to restore it at every boot
    script = tmp_path / "autostart"
    script.write_text(templates.autostart_script({"drvdom": "/etc/xen/drvdom.cfg",
                                                  "g 1": "/etc/xen/g 1.cfg"}, "drvdom", ["g 1"]))
    (tmp_path / "bin").mkdir()
    xl = tmp_path / "bin" / "xl"
    xl.write_text(FAKE_XL)
    xl.chmod(0o755)
    domains = tmp_path / "domains"
    domains.mkdir()
    for name in ("drvdom", "g 1"):
        (domains / name).write_text("running")
    env = {"PATH": f"{tmp_path / 'bin'}:/usr/bin:/bin", "XL_DOMAINS": str(domains)}
    p = subprocess.run(["sh", str(script), "stop"], env=env, capture_output=True, text=True,
                       timeout=30)
    assert p.returncode == 0, p.stderr
    assert list(domains.iterdir()) == []
    assert (tmp_path / "domains.log").read_text().splitlines() == \
        ["destroy g 1", "shutdown drvdom", "destroy drvdom"]


def test_the_driver_domains_units_leave_no_dollar_for_systemd_to_expand():
    files = templates.driver_domain_files("xenbr0", "eth0", "52:54:00:5a:00:05", "e1000",
                                        "DHCP=ipv4\n", "/usr/lib/xen-4.17/bin/xl")
    ready = files["/etc/systemd/system/xenaccept-ready.service"]
    # systemd expands $NAME and ${NAME} in Exec lines itself: the shell's must be $$
    assert not re.search(r"(?<!\$)\$(?!\$)", ready.replace("$$", "")), ready
    netdev = files["/etc/systemd/network/10-xenaccept-xenbr0.netdev"]
    assert "MACAddress=52:54:00:5a:00:05" in netdev and "Kind=bridge" in netdev
    port = files["/etc/systemd/network/10-xenaccept-xenbr0-port.network"]
    assert "Driver=e1000" in port and "Bridge=xenbr0" in port


def test_a_host_without_grub_or_initramfs_tools_is_refused_with_the_reason():
    r = recorder({"sh -c 'for c in": (0, "no update-grub\nno /boot/grub/grub.cfg\n")})
    why = boot_record.unsupported(r)
    assert why and "no update-grub, no /boot/grub/grub.cfg" in why


def record() -> boot_record.Record:
    return boot_record.Record(BDF, files=[names.GRUB_DROPIN],
                          generated={"/boot/grub/grub.cfg": "g2", "/boot/initrd.img-6.1": "i2"},
                          backups={"/boot/grub/grub.cfg": f"{names.BOOT_BACKUP}/grub.cfg",
                                   "/boot/initrd.img-6.1": f"{names.BOOT_BACKUP}/initrd.img-6.1"})


def test_the_record_survives_its_json():
    assert boot_record.Record.from_json(record().to_json()) == record()


def test_unchanged_boot_files_are_copied_back_byte_for_byte():
    r = recorder({"sh -c 'sha256sum": (0, "g2  /boot/grub/grub.cfg\ni2  /boot/initrd.img-6.1\n")})
    boot_record.restore_generated(r, record(), log=lambda m: None)
    assert f"cp -a {names.BOOT_BACKUP}/grub.cfg /boot/grub/grub.cfg" in r.sent
    assert f"cp -a {names.BOOT_BACKUP}/initrd.img-6.1 /boot/initrd.img-6.1" in r.sent
    assert not any(c.startswith(("update-grub", "update-initramfs")) for c in r.sent)
    assert r.sent[0].startswith("sh -c 'n=0; while pgrep")  # an update left running first


def test_boot_files_regenerated_since_are_made_again_not_overwritten():
    """A kernel installed while the setup was permanent: its initrd is new, grub.cfg
    changed; the old initrd still as the suite left it."""
    r = recorder({"sh -c 'sha256sum": (0, "g3  /boot/grub/grub.cfg\ni2  /boot/initrd.img-6.1\n"
                                          "n1  /boot/initrd.img-6.12\n")})
    boot_record.restore_generated(r, record(), log=lambda m: None)
    assert f"cp -a {names.BOOT_BACKUP}/initrd.img-6.1 /boot/initrd.img-6.1" in r.sent
    assert "update-initramfs -u -k 6.12" in r.sent
    assert r.sent[-2] == "update-grub"
    assert not any("grub.cfg /boot/grub/grub.cfg" in c for c in r.sent)


@pytest.mark.parametrize("name", ["update-initramfs", "mkinitramfs", "update-grub",
                                  "grub-mkconfig"])
def test_the_updaters_are_matched_by_the_names_the_kernel_keeps(name):
    pattern = boot_record.UPDATERS.strip("'")
    assert re.search(pattern, name[:15]), name


GRUB_CFG = """menuentry 'Debian GNU/Linux, with Xen hypervisor' --class debian {
\tmultiboot2\t/boot/xen-4.17-amd64.gz placeholder  dom0_mem=1024M,max:1024M iommu=1,verbose ${xen_rm_opts}
\techo\t'Loading Linux 6.1.0-50-amd64 ...'
\tmodule2\t/boot/vmlinuz-6.1.0-50-amd64 placeholder root=UUID=776e ro console=hvc0 net.ifnames=0 %s
\tmodule2\t--nounzip   /boot/initrd.img-6.1.0-50-amd64
}
"""
RUNNING = "placeholder root=UUID=776e ro console=hvc0 earlyprintk=xen net.ifnames=0"


def test_the_default_entry_must_keep_dom0s_arguments_and_add_the_hide():
    good = GRUB_CFG % f"earlyprintk=xen xen-pciback.hide=({BDF})"
    assert bootentry.dom0_line(good).endswith(f"xen-pciback.hide=({BDF})")
    assert bootentry.missing_args(RUNNING, bootentry.dom0_line(good), BDF) == []
    # a drop-in read before the one that sets GRUB_CMDLINE_LINUX replaced the whole line
    # (seen: Dom0 came back without net.ifnames=0 and lost its network)
    lost = "menuentry 'x' {\n\tmodule2\t/boot/vmlinuz-6.1 placeholder root=UUID=776e ro " \
           f" xen-pciback.hide=({BDF})\n}}\n"
    assert bootentry.missing_args(RUNNING, bootentry.dom0_line(lost), BDF) == \
        ["console=hvc0", "earlyprintk=xen", "net.ifnames=0"]
    assert bootentry.missing_args(RUNNING, bootentry.dom0_line(GRUB_CFG % "earlyprintk=xen"),
                                BDF) == [f"xen-pciback.hide=({BDF})"]
    assert bootentry.dom0_line("menuentry 'Debian' {\n\tlinux /vmlinuz root=x\n}\n") is None


def test_the_grub_dropin_is_read_after_every_other_one():
    import os
    assert os.path.basename(names.GRUB_DROPIN) > "xenlab.cfg" > "xen.cfg"


def test_boot_files_of_an_interrupted_update_are_copied_back():
    """Ctrl-C while update-initramfs ran: the suite never recorded what it made, and the
    update (let finish) was the last writer: the copies go back, nothing is made again
    (seen on the lab: making it again gave other bytes). update-initramfs's own .dpkg-bak
    copy, rewritten by it, goes back too."""
    rec = boot_record.Record(BDF, backups={
        "/boot/grub/grub.cfg": f"{names.BOOT_BACKUP}/grub.cfg",
        "/boot/initrd.img-6.1": f"{names.BOOT_BACKUP}/initrd.img-6.1",
        "/boot/initrd.img-6.1.dpkg-bak": f"{names.BOOT_BACKUP}/initrd.img-6.1.dpkg-bak"})
    r = recorder({"sh -c 'sha256sum": (0, "g1  /boot/grub/grub.cfg\ni9  /boot/initrd.img-6.1\n"
                                          "i8  /boot/initrd.img-6.1.dpkg-bak\n")})
    boot_record.restore_generated(r, rec, log=lambda m: None)
    copies = [c for c in r.sent if c.startswith("cp -a")]
    assert len(copies) == 3, copies
    assert not any(c.startswith(("update-grub", "update-initramfs")) for c in r.sent)


def test_only_real_initramfs_images_are_made_again():
    assert boot_record.initrd_version("/boot/initrd.img-6.12.95+deb12-amd64") == "6.12.95+deb12-amd64"
    assert boot_record.initrd_version("/boot/initrd.img-6.1.0-50-amd64.dpkg-bak") is None
    assert boot_record.initrd_version("/boot/initrd.img-6.1.0-50-amd64.new") is None
    assert boot_record.initrd_version("/boot/grub/grub.cfg") is None


def test_a_reboot_forgets_only_the_changes_to_the_running_host():
    from xenaccept.provision import Journal
    j = Journal(log=lambda m: None)
    j.push("remove /etc/xen/drvdom.cfg", lambda: None)
    j.push("give 0000:00:05.0 back to e1000", lambda: None, running_only=True)
    j.push("destroy drvdom", lambda: None)
    j.push("remove bridge xenbr0 in drvdom", lambda: None, running_only=True)
    j.rebooted()
    assert [u.what for u in j.entries] == ["remove /etc/xen/drvdom.cfg", "destroy drvdom"]
