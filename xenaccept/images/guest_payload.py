"""The guests' ramdisk: a small archive built in Dom0 from Dom0's own files.

A guest boots Dom0's kernel with this as its whole initramfs (no disk). It holds the
netfront module with its dependencies, dash, ip, ping and sleep with their libraries,
and an ``/init`` that brings up every network interface netfront makes (also ones
plugged later, as after the driver domain restarts) and pings the driver domain's bridge
at its IPv6 link-local address once a second. So each guest sends frames the bridge learns
its MAC from, and its kernel answers the driver domain's pings (traffic both ways) without
any address on the operator's LAN and without DHCP. Nothing is taken from Dom0's initrd,
so its format does not matter.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable

from xenaccept.images import initramfs
from xenaccept.errors import HarnessError
from xenaccept.names import GUEST_PAYLOAD_DIR
from xenaccept.transport.runner import Runner

PATH = f"{GUEST_PAYLOAD_DIR}/initrd.img"
TOOLS = ("dash", "ip", "ping", "sleep", "kmod")
MODULES = ("xen-netfront",)

INIT = r"""#!/bin/sh
# xenaccept's guest: bring every NIC up, ping the driver domain's bridge (link-local)
export PATH=/xenaccept/bin
peer=${xenaccept_peer:-}
while read -r m; do insmod "/xenaccept/mod/$m"; done < /xenaccept/mod/order
ip link set lo up
echo "xenaccept-guest: netfront loaded; pinging ${peer:-nobody} on each NIC" >/dev/console
seen=" "
while :; do
    ip -o link show > /tmp/links
    while read -r index name rest; do
        index=${index%:}; name=${name%:}; name=${name%@*}
        case "$name" in lo) continue;; esac
        case "$seen" in *" $index "*) continue;; esac
        seen="$seen$index "
        ip link set "$name" up
        echo "xenaccept-guest: $name (ifindex $index) up" >/dev/console
        [ -n "$peer" ] && ping -6 -n -q -i 1 "$peer%$name" >/dev/null 2>&1 &
    done < /tmp/links
    sleep 1
done
"""

def peer_of(link_local: str) -> str:
    """The address the guests ping: validated, so it can go on a kernel command line."""
    addr = ipaddress.IPv6Address(link_local.split("%")[0])
    if not addr.is_link_local:
        raise HarnessError(f"{link_local!r} is not an IPv6 link-local address")
    return str(addr)


def guest_link_local(mac: str) -> str:
    """The IPv6 link-local address a guest's kernel gives its NIC (EUI-64 of its MAC)."""
    b = [int(x, 16) for x in mac.split(":")]
    b[0] ^= 0x02
    eui = b[:3] + [0xFF, 0xFE] + b[3:]
    return str(ipaddress.IPv6Address(bytes([0xFE, 0x80] + [0] * 6 + eui)))


def extra(peer: str) -> str:
    """Kernel arguments of a guest: its console, and the address to ping (an argument
    without a dot reaches /init as an environment variable)."""
    return f"console=hvc0 xenaccept_peer={peer_of(peer)}"


def build(dom0: Runner, release: str, log: Callable[[str], None] = print) -> str:
    """Build the guests' ramdisk in Dom0; returns its path."""
    dom0.run("mkdir", "-p", "-m", "0700", GUEST_PAYLOAD_DIR, mutates=True, check=True)
    kb = initramfs.build(dom0, release, PATH, INIT, TOOLS, MODULES, what="the guests' ramdisk")
    log(f"guest payload: {PATH} ({kb // 1024 or 1} MB: netfront, {', '.join(TOOLS)} from Dom0)")
    return PATH
