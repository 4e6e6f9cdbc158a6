"""What the next boot of a permanent setup would do, read without rebooting: the entry GRUB
will start (:mod:`.grub`), Dom0's kernel and command line in it, what that kernel's
initramfs holds, the units that start the setup, and what the driver domain's config
boots. Each problem is said as what the next boot would do."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from xenaccept.errors import HarnessError
from xenaccept.model.target import Target
from xenaccept.names import (DEVD_UNIT_PERSISTENT, DOMAINS_UNIT, MODPROBE_CONF, PERSIST_RECORD,
                             READY_UNIT, XENDOMAINS_SAVE)
from xenaccept.resources import grub
from xenaccept.resources.host import Host
from xenaccept.resources.kernel import hidden_bdfs
from xenaccept.resources.xl import parse_config

DRIVER_DOMAIN_UNITS = (DEVD_UNIT_PERSISTENT, READY_UNIT, "systemd-networkd.service")
# what the initramfs must hold for the boot-time hide: the module, and the softdep that
# loads it before the native driver
PCIBACK_MODULE = "xen-pciback.ko"
SOFTDEP_FILE = MODPROBE_CONF.lstrip("/")

# each unit and what the next boot does with it, from the links systemd starts it by (as
# `systemctl is-enabled` says it, without its cost: 0.5 s a call under emulation): masked,
# enabled (wanted by multi-user.target, where every unit of the setup is installed),
# disabled, or not-found
_ENABLED = r"""e=/etc/systemd/system
for u; do
    if [ -L "$e/$u" ] && [ "$(readlink "$e/$u")" = /dev/null ]; then s=masked
    elif [ -e "$e/multi-user.target.wants/$u" ]; then s=enabled
    elif [ -e "$e/$u" ] || [ -e "/lib/systemd/system/$u" ] || [ -e "/usr/lib/systemd/system/$u" ]
    then s=disabled
    else s=not-found; fi
    echo "$u $s"
done"""
# $1: an initramfs; prints the files of interest it holds
_LIST = ('lsinitramfs "$1" 2>/dev/null | grep -E "/xen-pciback\\.ko|^' + SOFTDEP_FILE.replace(".", "\\.")
         + '$"; true')


@dataclass
class NextBoot:
    entry: grub.Entry | None
    why: str                                   # why GRUB starts that entry
    missing: list[str] = field(default_factory=list)          # files of the entry
    lost: list[str] = field(default_factory=list)             # arguments Dom0 would lose
    initramfs: set[str] | None = None          # of pciback and the softdep, what it holds
    dom0_unit: str = "?"
    drvdom_kernel: str | None = None
    drvdom_ramdisk: str | None = None
    drvdom_missing: list[str] = field(default_factory=list)
    drvdom_units: dict[str, str] | None = None   # None: the driver domain could not say
    drvdom_built: bool = True
    saved: list[str] = field(default_factory=list)   # the setup's domains xendomains saved
    native: str = "its native driver"
    bdf: str = ""

    @property
    def dom0_release(self) -> str | None:
        return self.entry.release if self.entry else None

    @property
    def drvdom_release(self) -> str | None:
        k = self.drvdom_kernel
        return k.rsplit("vmlinuz-", 1)[1] if k and "vmlinuz-" in k else k

    # each group of problems, said as what the next boot would do
    def entry_problems(self) -> list[str]:
        e = self.entry
        if e is None:
            return [f"GRUB would start no entry ({self.why})"]
        out = []
        if e.xen is None:
            out.append(f"GRUB would start '{e.title}' ({self.why}): Linux without Xen")
        if self.missing:
            out.append(f"GRUB would start '{e.title}', whose files are missing: "
                       + ", ".join(self.missing))
        if e.xen is not None and self.bdf not in hidden_bdfs(e.args):
            out.append(f"Dom0 would boot {self.dom0_release} with {self.bdf} on {self.native}: "
                       f"its entry '{e.title}' has no xen-pciback.hide=({self.bdf})")
        lost = [a for a in self.lost if not a.startswith("xen-pciback.hide=")]
        if lost:
            out.append(f"Dom0 would boot without {' '.join(lost)} (it runs with them now)")
        return out

    def initramfs_problems(self) -> list[str]:
        e = self.entry
        if e is None or e.initrd is None:
            return [] if e is None else [f"Dom0 would boot {self.dom0_release} without an "
                                         f"initramfs: its entry '{e.title}' names none"]
        held = self.initramfs or set()
        out = []
        if PCIBACK_MODULE not in held:
            out.append(f"Dom0 would boot {self.dom0_release} with {self.bdf} on {self.native}: "
                       f"{e.initrd} holds no xen-pciback")
        if SOFTDEP_FILE not in held:
            out.append(f"{self.native} could take {self.bdf} before xen-pciback at the next "
                       f"boot: {e.initrd} lacks /{SOFTDEP_FILE} (the softdep)")
        return out

    def unit_problems(self) -> list[str]:
        out = []
        if self.dom0_unit != "enabled":
            out.append(f"Dom0 would not start the domains at boot: {DOMAINS_UNIT} is "
                       f"{self.dom0_unit}")
        for path in self.saved:
            out.append(f"Debian's xendomains would restore {path.rsplit('/', 1)[1]} from "
                       f"{path} (saved at a shutdown) before {DOMAINS_UNIT} starts the setup")
        if self.drvdom_units is None:
            out.append("the driver domain's units could not be read (it does not answer)")
        else:
            for unit, state in self.drvdom_units.items():
                if state != "enabled":
                    what = {DEVD_UNIT_PERSISTENT: "without xl devd",
                            READY_UNIT: "without telling Dom0 it is ready (the guests would "
                                        "not be started)"}.get(unit, "without its bridge")
                    out.append(f"the driver domain would boot {what}: {unit} is {state} "
                               "in its disk")
        return out

    def drvdom_problems(self) -> list[str]:
        out = []
        want = self.dom0_release
        if self.drvdom_kernel is None:
            return ["the driver domain's config names no kernel"]
        if want is not None and self.drvdom_release != want:
            out.append(f"the driver domain would boot {self.drvdom_release}, not Dom0's next "
                       f"kernel {want} ({self.drvdom_kernel})")
        if self.drvdom_missing:
            out.append("the driver domain would not start: missing "
                       + ", ".join(self.drvdom_missing))
        ramdisk = self.drvdom_ramdisk or ""
        if self.drvdom_built and want is not None and not ramdisk.endswith(f"-{want}"):
            out.append(f"the driver domain's initramfs {ramdisk or '(none)'} is not the one "
                       f"made for {want}: its modules would not match its kernel")
        return out

    def problems(self) -> list[str]:
        return (self.entry_problems() + self.initramfs_problems() + self.unit_problems()
                + self.drvdom_problems())

    def summary(self) -> str:
        """The next boot in one line: the entry, Dom0's kernel, the driver domain's."""
        e = self.entry
        if e is None:
            return f"GRUB would start no entry ({self.why})"
        dom0 = (f"Dom0 on {self.dom0_release}" if e.xen else f"Linux {self.dom0_release} "
                "without Xen")
        return (f"GRUB would start '{e.title}' ({self.why}): {dom0}, the driver domain on "
                f"{self.drvdom_release}")

    def facts(self) -> dict[str, object]:
        return {"entry": self.entry.title if self.entry else None,
                "dom0_kernel": self.dom0_release, "driver_domain_kernel": self.drvdom_release,
                "problems": self.problems()}


def read(dom0: Host, drvdom: Host | None, target: Target, bdf: str, *,
         list_initramfs: bool = False) -> NextBoot:
    """The next boot, read from Dom0 (and from the driver domain's own units, when
    ``drvdom`` is given and answers). Reads only. The initramfs is listed when
    ``list_initramfs``, or when it is not byte for byte the one ``--persist`` made (and
    listed before its reboot)."""
    cfg = dom0.read(grub.CFG, once=True) or ""
    env = grub.parse_env(dom0.read(grub.ENV, once=True) or "")
    entry, why = grub.next_entry(cfg, env)
    nb = NextBoot(entry, why, bdf=bdf, native=target.device.native_driver or "its native driver",
                  drvdom_built=target.driver_domain.built)
    files = [f for f in (entry.xen, entry.kernel, entry.initrd) if f] if entry else []
    dd_conf = parse_config(dom0.read(target.config_path(target.driver_domain.name),
                                     once=True) or "")
    dd_files = [v for k in ("kernel", "ramdisk") if isinstance(v := dd_conf.get(k), str) and v]
    kernel, ramdisk = dd_conf.get("kernel"), dd_conf.get("ramdisk")
    nb.drvdom_kernel = kernel if isinstance(kernel, str) and kernel else None
    nb.drvdom_ramdisk = ramdisk if isinstance(ramdisk, str) and ramdisk else None
    saves = [f"{XENDOMAINS_SAVE}/{n}" for n in (target.driver_domain.name, *target.guests.names)]
    missing = set(dom0.missing(*files, *dd_files, *saves))
    nb.saved = [p for p in saves if p not in missing]
    nb.missing = [f for f in files if f in missing]
    nb.drvdom_missing = [f for f in dd_files if f in missing]
    if entry is not None:
        nb.lost = grub.missing_args(dom0.kernel.cmdline, entry.args, bdf)
        if entry.initrd and entry.initrd not in missing:
            nb.initramfs = _initramfs_holds(dom0, entry.initrd, list_it=list_initramfs)
    nb.dom0_unit = _enabled(dom0, (DOMAINS_UNIT,))[DOMAINS_UNIT]
    if drvdom is not None:
        try:
            nb.drvdom_units = _enabled(drvdom, DRIVER_DOMAIN_UNITS)
        except HarnessError:   # a driver domain that does not answer
            nb.drvdom_units = None
    return nb


def _initramfs_holds(dom0: Host, path: str, *, list_it: bool) -> set[str]:
    """Of xen-pciback and the softdep, what the initramfs at ``path`` holds. One the suite's
    ``update-initramfs`` made (its sha256 in the record of ``--persist``, and listed before
    the suite rebooted into it) is not listed again: ``lsinitramfs`` takes 5 s under
    emulation, a hash 0.1 s."""
    made = None if list_it else _made_by_suite(dom0).get(path)
    if made is not None:
        r = dom0.runner.run("sha256sum", path, once=True, timeout=120)
        if r.ok and r.stdout.split()[:1] == [made]:
            return {PCIBACK_MODULE, SOFTDEP_FILE}
    listed = dom0.runner.run("sh", "-c", _LIST, "sh", path, once=True,
                             timeout=120).stdout.splitlines()
    return {SOFTDEP_FILE if line.strip() == SOFTDEP_FILE else PCIBACK_MODULE
            for line in listed if line.strip()}


def _made_by_suite(dom0: Host) -> dict[str, str]:
    """The boot files as ``--persist`` left them (path -> sha256), from its record."""
    text = dom0.read(PERSIST_RECORD, once=True)
    try:
        generated = json.loads(text or "{}").get("generated", {})
    except ValueError:
        return {}
    return {str(k): str(v) for k, v in generated.items()} if isinstance(generated, dict) else {}


def _enabled(host: Host, units: tuple[str, ...]) -> dict[str, str]:
    out = host.runner.run("sh", "-c", _ENABLED, "sh", *units, once=True).stdout
    states = dict(line.split(" ", 1) for line in out.splitlines() if " " in line)
    return {u: states.get(u, "not-found") for u in units}
