"""The texts ``--persist`` writes: GRUB's drop-in, the initramfs hook and modprobe rule in
Dom0, the autostart script and its unit; the driver domain's own boot config."""

from __future__ import annotations

import shlex

from xenaccept.names import (AUTOSTART, DEVD_UNIT_PERSISTENT, MARKER, READY_KEY, READY_UNIT,
                             networkd_file)

READY_DEADLINE = 600        # the autostart unit's wait for the driver domain


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
        timeout 120 xl shutdown -w {dd}
        # shut down is not gone: the domain stays listed until the toolstack destroys it
        # (seconds under load), and Debian's xendomains, stopped next, saves what it lists
        xl destroy {dd} 2>/dev/null
    fi
    n=0
    while xl domid {dd} >/dev/null 2>&1; do
        n=$((n + 1))
        [ $n -le 60 ] || {{ echo "{driver_domain}: still there after 60 s" >&2; exit 1; }}
        sleep 1
    done
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
        networkd_file(bridge, ".netdev"): (
            f"{MARKER}: the bridge, with the NIC's MAC (DHCP leases and ARP caches hold)\n"
            f"[NetDev]\nName={bridge}\nKind=bridge\nMACAddress={mac}\n\n"
            "[Bridge]\nSTP=no\nForwardDelaySec=0\n"),
        networkd_file(bridge, "-port.network"): (
            f"{MARKER}: the passed-through NIC, a port of {bridge}\n"
            f"[Match]\nDriver={native}\n\n[Network]\nBridge={bridge}\n"),
        networkd_file(bridge, ".network"): (
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


def kernel_hook(script: str, action: str) -> str:
    """/etc/kernel/post{inst,rm}.d: the driver domain's boot files follow Dom0's kernels.
    A failure is said and never fails apt (the next-boot check names what it left)."""
    q = shlex.quote
    return f"""#!/bin/sh
{MARKER}: the driver domain's boot files follow Dom0's kernels (removed
# when the suite restores the host). Run by apt with the kernel's release as $1.
[ -n "${{1:-}}" ] && [ -f {q(script)} ] || exit 0
sh {q(script)} {action} "$1" ||
    echo "xenaccept: the driver domain's boot files for $1 were not made ({action})" >&2
exit 0
"""
