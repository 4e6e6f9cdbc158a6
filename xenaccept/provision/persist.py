"""The setup made permanent, as an operator makes it, and undone byte for byte.

What ``--provision --persist`` writes, all in files of its own (nothing of the operator's is
edited):

Dom0
  * ``/etc/default/grub.d/zz-xenaccept.cfg``: ``xen-pciback.hide=(BDF)`` appended to Dom0's
    command line in the Xen boot entries (``GRUB_CMDLINE_LINUX_XEN_REPLACE``), then
    ``update-grub``;
  * ``/etc/initramfs-tools/hooks/xenaccept-pciback`` (xen-pciback into the initramfs) and
    ``/etc/modprobe.d/xenaccept-pciback.conf`` (``softdep <native> pre: xen-pciback``: loaded
    before the native driver, so it seizes the hidden device first), then
    ``update-initramfs -u -k all``;
  * ``xenaccept-domains.service``, enabled: at boot it creates the driver domain, waits for
    it to say it is ready (bridge up, ``xl devd`` running: a flag in its own xenstore
    ``data/``), then creates the guests; at shutdown it stops them, guests first. Not
    ``/etc/xen/auto``: Debian's xendomains saves every domain at shutdown by default
    (``XENDOMAINS_SAVE``), which a domain with a PCI device cannot do, and restores guests
    before their backend exists.

The driver domain (its own disk, built by the suite)
  * systemd-networkd makes the bridge with the NIC's MAC and the NIC enslaved;
  * ``xenaccept-devd.service`` runs ``xl devd``; ``xenaccept-ready.service`` writes the flag.

Before ``update-grub`` and ``update-initramfs`` the files they regenerate are copied to the
work dir; restoring puts them back byte for byte, unless something else has regenerated them
since (a kernel upgrade): then they are made again without the suite's files.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

from xenaccept.model import validate
from xenaccept.errors import HarnessError
from xenaccept.names import (
    AUTOSTART,
    BOOT_BACKUP,
    DEVD_UNIT_PERSISTENT,
    DOMAINS_UNIT,
    DOMAINS_UNIT_PATH,
    GRUB_DROPIN,
    INITRAMFS_HOOK,
    MARKER,
    MODPROBE_CONF,
    PERSIST_FILES,
    PERSIST_RECORD,
    READY_KEY,
    READY_UNIT,
)
from xenaccept.transport.runner import Runner

if TYPE_CHECKING:
    from xenaccept.provision.setup import Setup

GENERATED_GLOB = "/boot/grub/grub.cfg /boot/initrd.img-*"
# the processes of update-initramfs and update-grub (names as the kernel keeps them: 15 chars)
UPDATERS = "'update-initramf|mkinitramfs|update-grub|grub-mkconfig'"
UPDATE_TIMEOUT = 1200.0     # update-initramfs for every kernel, then update-grub (TCG: ~2 min)
READY_DEADLINE = 600        # the autostart unit's wait for the driver domain


@dataclass
class Record:
    """What the persistent mode changed in Dom0 (kept in the work dir as JSON, so that a
    later ``teardown`` of a kept setup can undo it too)."""

    bdf: str
    files: list[str] = field(default_factory=list)          # the suite's own config files
    generated: dict[str, str] = field(default_factory=dict)  # path -> sha256 as the suite left it
    backups: dict[str, str] = field(default_factory=dict)    # path -> its copy from before

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Record:
        return cls(**json.loads(text))


def hashes(runner: Runner) -> dict[str, str]:
    """sha256 of the files update-grub and update-initramfs regenerate."""
    r = runner.run("sh", "-c", f"sha256sum {GENERATED_GLOB} 2>/dev/null; true", timeout=120)
    out = {}
    for line in r.stdout.splitlines():
        digest, _, path = line.partition("  ")
        if path:
            out[path] = digest
    return out


def unsupported(runner: Runner) -> str | None:
    """Why this Dom0 cannot be made permanent the suite's way (None when it can)."""
    r = runner.run("sh", "-c", (
        "for c in update-grub update-initramfs systemctl; do command -v $c >/dev/null || "
        "echo \"no $c\"; done; [ -f /boot/grub/grub.cfg ] || echo 'no /boot/grub/grub.cfg'; "
        "[ -d /etc/initramfs-tools/hooks ] || echo 'no /etc/initramfs-tools/hooks'; true"))
    missing = [m for m in r.stdout.splitlines() if m.strip()]
    if missing:
        return ("--persist makes the setup permanent through GRUB (update-grub) and "
                "initramfs-tools, as on Debian and Ubuntu; this Dom0 has " + ", ".join(missing))
    return None


def grub_dropin(bdf: str) -> str:
    return (f"{MARKER}: the boot-time hide of {bdf} (remove this file, then update-grub)\n"
            "# Dom0's command line in the Xen entries (Debian's 20_linux_xen)\n"
            'GRUB_CMDLINE_LINUX_XEN_REPLACE="${GRUB_CMDLINE_LINUX_XEN_REPLACE:-$GRUB_CMDLINE_LINUX}'
            f' xen-pciback.hide=({bdf})"\n')


INITRAMFS_HOOK_TEXT = f"""#!/bin/sh
{MARKER}: xen-pciback in the initramfs, for the boot-time hide
PREREQ=""
prereqs() {{ echo "$PREREQ"; }}
case "$1" in prereqs) prereqs; exit 0;; esac
. /usr/share/initramfs-tools/hook-functions
manual_add_modules xen-pciback
"""


def modprobe_conf(native: str, bdf: str) -> str:
    return (f"{MARKER}: xen-pciback before {native}, so that it takes {bdf} "
            "(xen-pciback.hide) first\n"
            f"softdep {native} pre: xen-pciback\n")


def autostart_script(config_of: dict[str, str], driver_domain: str, guests: list[str]) -> str:
    q = shlex.quote
    create_guests = "".join(f"    xl create {q(config_of[g])}\n" for g in guests)
    stop_guests = "".join(f"    xl destroy {q(g)} 2>/dev/null\n" for g in reversed(guests))
    dd = q(driver_domain)
    return f"""#!/bin/sh
{MARKER}: the driver domain {driver_domain} and its guests, at boot
set -u
start() {{
    xl domid {dd} >/dev/null 2>&1 || xl create {q(config_of[driver_domain])} || exit 1
    id=$(xl domid {dd}) || exit 1
    n=0
    until [ "$(xenstore-read /local/domain/$id/{READY_KEY} 2>/dev/null)" = 1 ]; do
        n=$((n + 1))
        if [ $n -gt {READY_DEADLINE} ]; then
            echo "{driver_domain}: not ready (bridge, xl devd) after {READY_DEADLINE} s" >&2
            exit 1
        fi
        sleep 1
    done
{create_guests}}}
stop() {{
{stop_guests}    if xl domid {dd} >/dev/null 2>&1; then
        timeout 120 xl shutdown -w {dd} || xl destroy {dd}
    fi
}}
case "${{1:-}}" in
    start) start ;;
    stop) stop ;;
    *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
"""


UNIT_TEXT = f"""{MARKER}
[Unit]
Description=xenaccept: the driver domain and its guests
After=xen.service xendomains.service xenstored.service
Wants=xen.service

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart={AUTOSTART} start
ExecStop=-{AUTOSTART} stop
TimeoutStartSec={READY_DEADLINE + 300}
TimeoutStopSec=300

[Install]
WantedBy=multi-user.target
"""


def driver_domain_files(bridge: str, nic: str, mac: str, native: str, network: str,
                        xl: str) -> dict[str, str]:
    """The driver domain's own boot config: bridge and NIC by systemd-networkd, xl devd,
    and the readiness flag Dom0's autostart waits for."""
    q = shlex.quote
    return {
        f"/etc/systemd/network/10-xenaccept-{bridge}.netdev": (
            f"{MARKER}: the bridge, with the NIC's MAC (DHCP leases and ARP caches hold)\n"
            f"[NetDev]\nName={bridge}\nKind=bridge\nMACAddress={mac}\n\n"
            "[Bridge]\nSTP=no\nForwardDelaySec=0\n"),
        f"/etc/systemd/network/10-xenaccept-{bridge}-port.network": (
            f"{MARKER}: the passed-through NIC, a port of {bridge}\n"
            f"[Match]\nDriver={native}\n\n[Network]\nBridge={bridge}\n"),
        f"/etc/systemd/network/10-xenaccept-{bridge}.network": (
            f"{MARKER}: the bridge's addresses\n[Match]\nName={bridge}\n\n[Network]\n"
            f"{network}LinkLocalAddressing=ipv6\n"),
        f"/etc/systemd/system/{DEVD_UNIT_PERSISTENT}": (
            f"{MARKER}\n[Unit]\nDescription=xl devd: the backend daemon\n"
            "After=proc-xen.mount systemd-modules-load.service\n\n"
            f"[Service]\nExecStart={xl} devd -F\nRestart=on-failure\n\n"
            "[Install]\nWantedBy=multi-user.target\n"),
        f"/etc/systemd/system/{READY_UNIT}": (
            f"{MARKER}\n[Unit]\nDescription=Tell Dom0 the bridge and xl devd are up\n"
            f"After={DEVD_UNIT_PERSISTENT} systemd-networkd.service\n"
            f"Wants={DEVD_UNIT_PERSISTENT}\n\n"
            "[Service]\nType=oneshot\nRemainAfterExit=yes\nTimeoutStartSec=300\n"
            # systemd expands $NAME itself: the shell's are written $$
            "ExecStart=/bin/sh -c 'n=0; until [ -e /sys/class/net/"
            f"{q(bridge)}/brif/{q(nic)} ] && systemctl is-active --quiet "
            f"{DEVD_UNIT_PERSISTENT}; do n=$$((n+1)); [ $$n -lt 250 ] || exit 1; sleep 1; "
            f"done; xenstore-write {READY_KEY} 1'\n"
            "ExecStop=-/usr/bin/xenstore-rm " + READY_KEY + "\n\n"
            "[Install]\nWantedBy=multi-user.target\n"),
    }


def write_driver_domain(s: Setup) -> None:
    """The driver domain brings up its bridge and xl devd by itself at boot from now on
    (its disk is the suite's: removed at restore with the rest)."""
    t = s.target
    dd = t.driver_domain
    runner = s.drvdom.runner
    nic = dd.nic
    mac = validate.mac(runner.out("cat", f"/sys/class/net/{nic}/address").strip(),
                       f"{nic}'s MAC in {dd.name}")
    native = t.device.native_driver
    if native is None:
        raise HarnessError("the device's native driver is not known")
    xl = s.drvdom.hotplug.xl_path()
    if xl is None:
        raise HarnessError(f"no xl in {dd.name}")
    if dd.address:
        network = f"Address={dd.address}\n" + (f"Gateway={dd.gateway}\n" if dd.gateway else "")
    else:
        network = "DHCP=ipv4\n"
    for path, text in driver_domain_files(t.bridge, nic, mac, native, network, xl).items():
        runner.write_file(path, text)
    runner.run("systemctl", "enable", "--quiet", DEVD_UNIT_PERSISTENT, READY_UNIT,
               mutates=True, check=True)
    runner.run("sync", mutates=True, check=True)


def write_boot_hide(s: Setup, record: Record) -> None:
    """The hide made at boot: GRUB's drop-in, xen-pciback in the initramfs before the native
    driver; each change journaled before it is made. Done right after the run-time hide,
    while Dom0 is idle (update-initramfs took over 5 min with the domains up, under TCG)."""
    runner = s.dom0.runner
    native = s.target.device.native_driver
    if native is None:
        raise HarnessError("the device's native driver is not known")
    s.work_dir()
    # the files update-grub / update-initramfs will regenerate, copied first
    found = hashes(runner)
    script = ('set -e; bk=$1; shift; mkdir -p -m 0700 "$bk"; '
              'for f; do cp -a "$f" "$bk/${f##*/}"; done')
    runner.run("sh", "-c", script, "sh", BOOT_BACKUP, *found, mutates=True, check=True, timeout=300)
    record.backups = {p: f"{BOOT_BACKUP}/{p.rsplit('/', 1)[1]}" for p in found}
    save(runner, record)
    s.journal.push("put back the boot files update-grub and update-initramfs made "
                   f"({', '.join(found)})", lambda: restore_generated(runner, record, s.log))
    record.files = [GRUB_DROPIN, INITRAMFS_HOOK, MODPROBE_CONF]
    save(runner, record)
    s.journal.push(f"remove {', '.join(record.files)}", lambda: remove_files(runner, record))
    runner.write_file(GRUB_DROPIN, grub_dropin(s.bdf))
    runner.write_file(INITRAMFS_HOOK, INITRAMFS_HOOK_TEXT, mode="0755")
    runner.write_file(MODPROBE_CONF, modprobe_conf(native, s.bdf))
    s.log("update-initramfs -u -k all, then update-grub (about 2 min under emulation)")
    runner.run("update-initramfs", "-u", "-k", "all", mutates=True, check=True,
               timeout=UPDATE_TIMEOUT)
    runner.run("update-grub", mutates=True, check=True, timeout=UPDATE_TIMEOUT)
    runner.run("sync", mutates=True, check=True)
    record.generated = hashes(runner)
    save(runner, record)
    check_default_entry(runner, s.dom0.kernel.cmdline, s.bdf)


KEEP_OUT = ("placeholder", "BOOT_IMAGE", "root", "ro", "rw")


def dom0_line(grub_cfg: str) -> str | None:
    """Dom0's command line in the first Xen entry of a grub.cfg (the default one once
    Debian's xen.cfg has made a Xen entry the default): its first ``module2`` line."""
    for line in grub_cfg.splitlines():
        words = line.split()
        if words[:1] == ["module2"] and len(words) > 1 and "vmlinuz" in words[1]:
            return " ".join(words[2:])
    return None


def missing_args(running: str, entry: str, bdf: str) -> list[str]:
    """What Dom0's command line has now, or the hide, that the entry would not give it."""
    have = set(entry.split())
    want = [w for w in running.split() if w.split("=", 1)[0] not in KEEP_OUT]
    want.append(f"xen-pciback.hide=({bdf})")
    return [w for w in dict.fromkeys(want) if w not in have]


def check_default_entry(runner: Runner, running: str, bdf: str) -> None:
    """Never reboot into a command line that lost what Dom0 boots with now: the default
    Xen entry must keep every argument of /proc/cmdline and add the hide."""
    entry = dom0_line(runner.out("cat", "/boot/grub/grub.cfg"))
    if entry is None:
        raise HarnessError("update-grub wrote no Xen entry (module2 with a kernel) in "
                           "/boot/grub/grub.cfg: not rebooting into it")
    lost = missing_args(running, entry, bdf)
    if lost:
        raise HarnessError(f"the default Xen entry update-grub wrote would boot Dom0 with "
                           f"`{entry}`, without {' '.join(lost)} (Dom0 runs with `{running}`):"
                           " not rebooting into it")


def write_autostart(s: Setup, record: Record) -> None:
    """The domains started at boot: the autostart script and its unit, enabled."""
    runner = s.dom0.runner
    t = s.target
    record.files += [AUTOSTART, DOMAINS_UNIT_PATH]
    save(runner, record)
    s.journal.push(f"disable {DOMAINS_UNIT}; remove it and {AUTOSTART}",
                   lambda: remove_files(runner, record))
    config_of = {n: t.config_path(n) for n in (t.driver_domain.name, *t.guests.names)}
    runner.write_file(AUTOSTART, autostart_script(config_of, t.driver_domain.name,
                                                  list(t.guests.names)), mode="0755")
    runner.write_file(DOMAINS_UNIT_PATH, UNIT_TEXT)
    runner.run("systemctl", "daemon-reload", mutates=True, check=True)
    runner.run("systemctl", "enable", "--quiet", DOMAINS_UNIT, mutates=True, check=True)
    runner.run("sync", mutates=True, check=True)


def save(runner: Runner, record: Record) -> None:
    runner.write_file(PERSIST_RECORD, record.to_json(), mode="0600")


def load(runner: Runner) -> Record | None:
    r = runner.run("cat", PERSIST_RECORD)
    return Record.from_json(r.stdout) if r.ok and r.stdout.strip() else None


def remove_files(runner: Runner, record: Record) -> None:
    """The suite's own files gone (the autostart unit disabled first)."""
    runner.run("sh", "-c", f"systemctl disable --quiet {DOMAINS_UNIT} 2>/dev/null; "
               'rm -f "$@"; systemctl daemon-reload', "sh", *record.files,
               mutates=True, check=True)


def restore_generated(runner: Runner, record: Record,
                      log: Callable[[str], None] = print) -> None:
    """Each regenerated file back from its copy when the suite's own update was the last to
    write it (what it made, or an update it left unfinished: an interrupted run); else
    (regenerated since, as by a kernel upgrade) made again without the suite's files. An
    update the run started and left is let finish first: it would write after us."""
    runner.run("sh", "-c", f"n=0; while pgrep {UPDATERS} >/dev/null; do n=$((n+1)); "
               "[ $n -lt 900 ] || exit 1; sleep 1; done", timeout=UPDATE_TIMEOUT, check=True)
    now = hashes(runner)
    regen_initrd: list[str] = []
    regen_grub = False
    for path, backup in record.backups.items():
        made = record.generated.get(path)
        if made is None or now.get(path) == made:
            runner.run("cp", "-a", backup, path, mutates=True, check=True, timeout=300)
        elif path.endswith("grub.cfg"):
            regen_grub = True
        elif version := initrd_version(path):
            regen_initrd.append(version)
    for path in set(now) - set(record.backups):  # a kernel installed since: its initrd
        if version := initrd_version(path):
            regen_initrd.append(version)
    for version in regen_initrd:
        log(f"{version}'s initramfs changed since the suite made it: made again")
        runner.run("update-initramfs", "-u", "-k", version, mutates=True, check=True,
                   timeout=UPDATE_TIMEOUT)
    if regen_grub or regen_initrd:
        runner.run("update-grub", mutates=True, check=True, timeout=UPDATE_TIMEOUT)
    runner.run("sync", mutates=True, check=True)


def initrd_version(path: str) -> str | None:
    """The kernel release of /boot/initrd.img-<release>; None for update-initramfs's own
    side files (its .dpkg-bak copy, a .new left half-written)."""
    _, sep, version = path.rpartition("/initrd.img-")
    if not sep or version.endswith((".dpkg-bak", ".new", ".bak", ".old")):
        return None
    return version


def manual_undo(bdf: str) -> str:
    """How to undo the persistent mode by hand (said when the host does not come back)."""
    return ("To undo by hand in Dom0: rm -f " + " ".join(PERSIST_FILES) +
            f"; systemctl disable {DOMAINS_UNIT}; update-initramfs -u -k all; update-grub; "
            f"then reboot (copies of the boot files from before are in {BOOT_BACKUP}; "
            f"the device {bdf} is hidden at boot until then)")
