"""The next boot, read without rebooting: the entry GRUB will start (from the lab's own
grub.cfg, as update-grub wrote it, and grubenv), and a permanent setup's next boot said as
what it would do."""

import pytest

from tests.support import FakeRunner, data
from tests.support.recorded import example_target
from xenaccept.checks import nextboot as checks
from xenaccept.errors import CheckFailed
from xenaccept.names import DEVD_UNIT_PERSISTENT, DOMAINS_UNIT, READY_UNIT, XENDOMAINS_SAVE
from xenaccept.resources import grub, nextboot
from xenaccept.resources.host import Host

CFG = data("dom0_cat-boot-grub-grub.cfg_e1000.txt")
REL = "6.1.0-50-amd64"
BDF = "0000:00:05.0"
XEN_SIMPLE = "Debian GNU/Linux, with Xen hypervisor"


def test_the_lab_boots_its_xen_entry_by_the_default_grub_cfg_sets():
    entry, why = grub.next_entry(CFG, {})
    assert entry is not None and entry.title == XEN_SIMPLE
    assert (entry.xen, entry.kernel, entry.initrd, entry.release) == (
        "/boot/xen-4.17-amd64.gz", f"/boot/vmlinuz-{REL}", f"/boot/initrd.img-{REL}", REL)
    assert entry.args.startswith("root=UUID=") and "placeholder" not in entry.args
    assert "GRUB_DEFAULT" in why


def test_grub_reboots_next_entry_wins_for_one_boot():
    entry, why = grub.next_entry(CFG, {"next_entry": "0"})
    assert entry is not None and entry.title == "Debian GNU/Linux" and entry.xen is None
    assert "next_entry" in why


@pytest.mark.parametrize("spec, title", [
    ("3>0>1", f"Debian GNU/Linux, with Xen 4.17-amd64 and Linux {REL} (recovery mode)"),
    ("Advanced options for Debian GNU/Linux (with Xen hypervisor)>Xen hypervisor, version "
     f"4.17-amd64>xen-gnulinux-{REL}-advanced-fdd74db2-e1fc-4fcc-a7df-cc657fdfba04",
     f"Debian GNU/Linux, with Xen 4.17-amd64 and Linux {REL}"),
    ("1>0", f"Debian GNU/Linux, with Linux {REL}"),
])
def test_a_saved_entry_is_found_by_position_title_or_id(spec, title):
    cfg = CFG.replace(f'set default="{XEN_SIMPLE}"', 'set default="${saved_entry}"')
    entry, why = grub.next_entry(cfg, {"saved_entry": spec})
    assert entry is not None and entry.title == title
    assert "saved_entry" in why


def test_a_default_naming_nothing_falls_back_to_the_first_entry():
    entry, why = grub.next_entry(CFG.replace(XEN_SIMPLE, "Gone", 1), {})
    assert entry is not None and entry.title == "Debian GNU/Linux"
    assert "names no entry: GRUB falls back to its first" in why


def test_the_environment_block_is_read_without_its_padding():
    env = "# GRUB Environment Block\nsaved_entry=2\nnext_entry=\n" + "#" * 900
    assert grub.parse_env(env) == {"saved_entry": "2", "next_entry": ""}
    assert grub.next_entry(CFG, grub.parse_env(env))[0].title == XEN_SIMPLE


def permanent_dom0(cfg: str, *, env: str = "", initramfs: str | None = None,
                   unit: str = "enabled", drvdom_kernel: str = REL,
                   missing: str = "", saved: tuple[str, ...] = ()) -> FakeRunner:
    """Dom0 of a permanent setup: grub.cfg with the hide (``cfg``), the driver domain's
    config booting ``drvdom_kernel``; of the setup's domains, those in ``saved`` left in
    xendomains' save dir."""
    unsaved = [f"{XENDOMAINS_SAVE}/{n}" for n in ("drvdom", "xa-guest1", "xa-guest2")
               if n not in saved]
    listing = initramfs if initramfs is not None else (
        "etc/modprobe.d/xenaccept-pciback.conf\n"
        f"usr/lib/modules/{REL}/kernel/drivers/xen/xen-pciback/xen-pciback.ko\n")
    return FakeRunner("dom0", {
        f"cat {grub.CFG}": cfg,
        f"cat {grub.ENV}": env,
        "cat /etc/xen/drvdom.cfg": (
            f'kernel = "/boot/vmlinuz-{drvdom_kernel}"\n'
            f'ramdisk = "/var/lib/xenaccept/drvdom/initrd.img-{drvdom_kernel}"\n'
            f"pci = [ '{BDF}' ]\n"),
        "cat /proc/cmdline": f"placeholder root=UUID=fdd74db2-e1fc-4fcc-a7df-cc657fdfba04 ro "
                             f"console=hvc0 earlyprintk=xen net.ifnames=0 "
                             f"xen-pciback.hide=({BDF})\n",
        "sh -c 'for p; do": missing + "".join(f"{p}\n" for p in unsaved),
        "sh -c 'lsinitramfs": listing,
        "cat /var/lib/xenaccept/persist.json": (1, ""),
        "sh -c 'e=/etc/systemd/system": f"{DOMAINS_UNIT} {unit}\n",
    }, match="prefix")


def drvdom_units(devd: str = "enabled") -> FakeRunner:
    return FakeRunner("drvdom", {"sh -c 'e=/etc/systemd/system": (
        f"{DEVD_UNIT_PERSISTENT} {devd}\n{READY_UNIT} enabled\n"
        "systemd-networkd.service enabled\n")}, match="prefix")


HIDDEN = data("dom0_cat-boot-grub-grub.cfg_persisted.txt")   # update-grub with the drop-in


def read(tmp_path, dom0: FakeRunner, drvdom: FakeRunner | None = None) -> nextboot.NextBoot:
    t = example_target(tmp_path)
    return nextboot.read(Host(dom0), Host(drvdom or drvdom_units()), t, BDF)


def test_a_whole_next_boot_has_no_problem_and_names_both_kernels(tmp_path):
    nb = read(tmp_path, permanent_dom0(HIDDEN))
    assert nb.problems() == []
    assert nb.facts() == {"entry": XEN_SIMPLE, "dom0_kernel": REL,
                          "driver_domain_kernel": REL, "problems": []}
    for check in (checks.boot_entry, checks.initramfs, checks.units,
                  checks.driver_domain_boot):
        check(nb)


def test_each_drift_is_said_as_what_the_next_boot_would_do(tmp_path):
    newer = "6.12.57+deb12-amd64"
    cfg = HIDDEN.replace(f"/boot/vmlinuz-{REL} placeholder", f"/boot/vmlinuz-{newer} placeholder",
                         1).replace(f"--nounzip   /boot/initrd.img-{REL}",
                                    f"--nounzip   /boot/initrd.img-{newer}", 1)
    nb = read(tmp_path, permanent_dom0(cfg, initramfs="", unit="disabled"),
              drvdom_units(devd="disabled"))
    problems = nb.problems()
    assert f"Dom0 would boot {newer} with {BDF} on e1000: /boot/initrd.img-{newer} holds no " \
           "xen-pciback" in problems
    assert f"Dom0 would not start the domains at boot: {DOMAINS_UNIT} is disabled" in problems
    assert f"the driver domain would boot without xl devd: {DEVD_UNIT_PERSISTENT} is disabled " \
           "in its disk" in problems
    assert f"the driver domain would boot {REL}, not Dom0's next kernel {newer} " \
           f"(/boot/vmlinuz-{REL})" in problems
    with pytest.raises(CheckFailed) as failed:
        checks.driver_domain_boot(nb)
    # every failure of the scenario says the whole next boot
    message = str(failed.value)
    assert f"Dom0 on {newer}, the driver domain on {REL}" in message
    assert f"{DOMAINS_UNIT} is disabled" in message


def test_a_domain_xendomains_saved_at_a_shutdown_would_be_restored_first(tmp_path):
    nb = read(tmp_path, permanent_dom0(HIDDEN, saved=("drvdom",)))
    assert nb.problems() == [f"Debian's xendomains would restore drvdom from {XENDOMAINS_SAVE}/"
                             f"drvdom (saved at a shutdown) before {DOMAINS_UNIT} starts the "
                             "setup"]
    with pytest.raises(CheckFailed):
        checks.units(nb)


def test_an_entry_without_the_hide_or_an_argument_dom0_runs_with(tmp_path):
    nb = read(tmp_path, permanent_dom0(CFG.replace("earlyprintk=xen ", "")))  # no drop-in
    assert nb.entry_problems() == [
        f"Dom0 would boot {REL} with {BDF} on e1000: its entry '{XEN_SIMPLE}' has no "
        f"xen-pciback.hide=({BDF})",
        "Dom0 would boot without earlyprintk=xen (it runs with them now)"]


def test_a_driver_domain_that_does_not_answer_is_said_so(tmp_path):
    silent = FakeRunner("drvdom", {}, match="prefix", default=(255, "", "unreachable"))
    nb = read(tmp_path, permanent_dom0(HIDDEN), silent)
    assert nb.drvdom_units == {DEVD_UNIT_PERSISTENT: "not-found", READY_UNIT: "not-found",
                               "systemd-networkd.service": "not-found"}


@pytest.mark.parametrize("now, listed", [("a1b2", False), ("ffff", True)])
def test_an_initramfs_as_the_suite_made_it_is_not_listed_again(tmp_path, now, listed):
    """lsinitramfs takes 5 s under emulation: the one --persist made (its hash in the
    record) holds what it was checked to hold before the reboot; any other is listed."""
    import json
    dom0 = permanent_dom0(HIDDEN)
    dom0.answers.update({"cat /var/lib/xenaccept/persist.json": json.dumps(
        {"bdf": BDF, "generated": {f"/boot/initrd.img-{REL}": "a1b2"}}),
        f"sha256sum /boot/initrd.img-{REL}": f"{now}  /boot/initrd.img-{REL}\n"})
    nb = read(tmp_path, dom0)
    assert nb.initramfs == {nextboot.PCIBACK_MODULE, nextboot.SOFTDEP_FILE}
    assert any("lsinitramfs" in c for c in dom0.sent) == listed


def test_persist_refuses_to_reboot_into_an_entry_without_the_hide():
    """The check made right after update-grub reads the entry GRUB starts next, as the
    next-boot scenario does."""
    from xenaccept.errors import HarnessError
    from xenaccept.provision.persist.bootentry import check_default_entry
    running = ("placeholder root=UUID=fdd74db2-e1fc-4fcc-a7df-cc657fdfba04 ro console=hvc0 "
               "earlyprintk=xen net.ifnames=0")
    for cfg, env in ((HIDDEN, ""), (CFG, ""), (HIDDEN, "next_entry=0\n")):
        dom0 = FakeRunner("dom0", {f"cat {grub.CFG}": cfg, f"cat {grub.ENV}": env})
        if cfg is HIDDEN and not env:
            check_default_entry(dom0, running, BDF)
            continue
        with pytest.raises(HarnessError, match="not rebooting into it"):
            check_default_entry(dom0, running, BDF)
