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
from xenaccept.model.lan import LAN
from xenaccept.names import GUEST_PAYLOAD_DIR
from xenaccept.transport.runner import Runner

PATH = f"{GUEST_PAYLOAD_DIR}/initrd.img"
TOOLS = ("dash", "ip", "ping", "sleep", "kmod")
# the LAN agent's: a shell with /dev/tcp, the xenstore client, checksums, a clock
LAN_TOOLS = ("bash", "xenstore-read", "xenstore-write", "xenstore-watch", "head", "sha256sum",
             "wc", "mount", "timeout", "cat", "rm")
DHCP_CLIENT = "dhclient"   # ISC's, as Debian's ifupdown uses it
MODULES = ("xen-netfront",)
LAN_KEY = "data/xenaccept"  # the guest's own xenstore dir (relative: /local/domain/<domid>/)

INIT = r"""#!/bin/sh
# xenaccept's guest: bring every NIC up, ping the driver domain's bridge (link-local); on
# the LAN (xenaccept_lan=dhcp or static,ADDR/LEN,GW): join it on the first NIC, publish the
# lease in xenstore (data/xenaccept/lan/) and answer the suite's probes (data/xenaccept/request)
export PATH=/xenaccept/bin
peer=${xenaccept_peer:-}
lan=${xenaccept_lan:-}
mount -t devtmpfs dev /dev 2>/dev/null && ln -sf /proc/self/fd /dev/fd
mount -t proc proc /proc 2>/dev/null
mount -t sysfs sys /sys 2>/dev/null
while read -r m; do insmod "/xenaccept/mod/$m"; done < /xenaccept/mod/order
ip link set lo up
echo "xenaccept-guest: netfront loaded; pinging ${peer:-nobody} on each NIC;" \
    "LAN: ${lan:-none}" >/dev/console
lan_join() {  # $1: the NIC to take the LAN address on (again, after a re-plug)
    xenstore-write data/xenaccept/agent 1 data/xenaccept/lan/interface "$1" \
        data/xenaccept/lan/address "" data/xenaccept/lan/event JOIN
    echo "$1" > /tmp/lan.interface; : > /tmp/lan.address
    case "$lan" in
    dhcp)
        [ -s /tmp/dhclient.pid ] && kill "$(cat /tmp/dhclient.pid)" 2>/dev/null
        dhclient -4 -sf /xenaccept/dhcp-event -lf /tmp/dhclient.leases -pf /tmp/dhclient.pid \
            -cf /xenaccept/dhclient.conf "$1" >/tmp/dhclient.log 2>&1 &
        ;;
    static,*)
        set -- "$1" $(echo "$lan" | { IFS=, read -r _ a g; echo "$a $g"; })
        ip addr add "$2" dev "$1" && ip route add default via "$3" dev "$1"
        reason=STATIC interface=$1 new_router=$3 /xenaccept/dhcp-event publish "$2"
        ;;
    esac
}
[ -n "$lan" ] && bash /xenaccept/agent >/tmp/agent.log 2>&1 &
seen=" " lanidx=
while :; do
    ip -o link show > /tmp/links
    if [ -n "$lanidx" ]; then  # the LAN's NIC unplugged (its backend went away): rejoin
        still=
        while read -r index rest; do [ "${index%:}" = "$lanidx" ] && still=1; done < /tmp/links
        [ -n "$still" ] || lanidx=
    fi
    while read -r index name rest; do
        index=${index%:}; name=${name%:}; name=${name%@*}
        case "$name" in lo) continue;; esac
        case "$seen" in *" $index "*) continue;; esac
        seen="$seen$index "
        ip link set "$name" up
        echo "xenaccept-guest: $name (ifindex $index) up" >/dev/console
        [ -n "$peer" ] && ping -6 -n -q -i 1 "$peer%$name" >/dev/null 2>&1 &
        if [ -n "$lan" ] && [ -z "$lanidx" ]; then lanidx=$index; lan_join "$name"; fi
    done < /tmp/links
    sleep 1
done
"""

# dhclient's script (and the static setting's): set the address, the MTU the server gives
# and the default route; publish the lease for the suite (Dom0 reads it in xenstore)
DHCP_EVENT = r"""#!/bin/sh
export PATH=/xenaccept/bin
plen() {
    n=0; IFS=.; for o in $1; do case $o in 255) n=$((n+8));; 254) n=$((n+7));; 252) n=$((n+6));;
    248) n=$((n+5));; 240) n=$((n+4));; 224) n=$((n+3));; 192) n=$((n+2));; 128) n=$((n+1));;
    esac; done; unset IFS; echo $n
}
publish() {
    k=data/xenaccept/lan
    xenstore-write $k/address "$1" $k/server "${new_dhcp_server_identifier:-}" \
        $k/router "${new_router:-}" $k/interface "$interface" \
        $k/mtu "$(cat /sys/class/net/$interface/mtu)" $k/event "$reason" \
        $k/lease-seconds "${new_dhcp_lease_time:-}"
    echo "$1" > /tmp/lan.address
}
[ "$1" = publish ] && { publish "$2"; exit 0; }
case "$reason" in
PREINIT) ip link set "$interface" up ;;
BOUND|RENEW|REBIND|REBOOT)
    new_router=${new_routers%% *}
    [ -n "$old_ip_address" ] && [ "$old_ip_address" != "$new_ip_address" ] &&
        ip -4 addr flush dev "$interface"
    a="$new_ip_address/$(plen "$new_subnet_mask")"
    ip addr replace "$a" dev "$interface"
    [ -n "$new_interface_mtu" ] && ip link set "$interface" mtu "$new_interface_mtu"
    [ -n "$new_router" ] && ip route replace default via "$new_router" dev "$interface"
    publish "$a" ;;
EXPIRE|FAIL|RELEASE|STOP)
    ip -4 addr flush dev "$interface"; : > /tmp/lan.address
    xenstore-write data/xenaccept/lan/address "" data/xenaccept/lan/event "$reason" ;;
esac
exit 0
"""

DHCLIENT_CONF = """request subnet-mask, broadcast-address, routers, interface-mtu;
timeout 30;
retry 5;
"""

# The agent: one bash, for the guest's life, answering each new request in
# data/xenaccept/request ("seq=N ping=IP count=C peer=IP:PORT bytes=B name=GUEST"; ping and
# peer optional) with a probe: full-size pings with DF set (the interface's MTU less 28)
# and a few small ones side by side, then bulk TCP both ways with the peer. The result goes
# to data/xenaccept/result, one line of key=value. Bulk TCP is skipped when full-size pings
# were lost (it would stall); it is given 20 s. It forks as little as it can: a fork costs
# about 0.2 s in a PV guest under TCG.
AGENT = r"""#!/bin/bash
export PATH=/xenaccept/bin
pings() {  # ping's output in file $1 -> sent, received, avg (the round trip in ms, or -)
    local p re='([0-9]+) packets transmitted, ([0-9]+) received' rt='= [0-9.]+/([0-9.]+)/'
    mapfile -t p < "$1"; p="${p[*]}"; sent=0 received=0 avg=-
    [[ $p =~ $re ]] && sent=${BASH_REMATCH[1]} received=${BASH_REMATCH[2]}
    [[ $p =~ $rt ]] && avg=${BASH_REMATCH[1]}
}
probe() {
    local seq= ping= count=20 peer= bytes=0 name= kv iface mtu addr s r t ss sr small out t0
    local sent received avg
    for kv; do
        case $kv in
        seq=*|ping=*|count=*|peer=*|bytes=*|name=*) printf -v "${kv%%=*}" %s "${kv#*=}" ;;
        esac
    done
    [[ $seq =~ ^[0-9]+$ && $count =~ ^[0-9]+$ && $bytes =~ ^[0-9]+$ ]] || return
    [[ -z $ping || $ping =~ ^[0-9.]+$ ]] && [[ -z $peer || $peer =~ ^[0-9.]+:[0-9]+$ ]] || return
    [[ $name =~ ^[A-Za-z0-9_.-]*$ ]] || return
    t0=${EPOCHREALTIME/./}
    read -r iface < /tmp/lan.interface || iface=eth0
    read -r mtu < "/sys/class/net/$iface/mtu"
    read -r addr < /tmp/lan.address
    out="seq=$seq iface=$iface mtu=$mtu address=$addr"
    if [[ $ping && $mtu ]]; then
        ping -n -q -M do -s 56 -c 5 -i 0.02 -w 2 "$ping" > /tmp/ping.small 2>&1 & small=$!
        ping -n -q -M do -s $((mtu - 28)) -c "$count" -i 0.02 -w 3 "$ping" > /tmp/ping.full 2>&1
        wait $small
        pings /tmp/ping.full; s=$sent r=$received t=$avg
        pings /tmp/ping.small; ss=$sent sr=$received
        out+=" ping=$ping size=$((mtu - 28)) sent=$s received=$r rtt_ms=$t"
        out+=" small_sent=$ss small_received=$sr ms_ping=$(( (${EPOCHREALTIME/./} - t0) / 1000 ))"
    fi
    if [[ $peer && $bytes -gt 0 && $ping && ${r:-0} -lt ${s:-0} ]]; then
        out+=" tcp=skipped"   # full-size frames are lost: bulk TCP would only stall
    elif [[ $peer && $bytes -gt 0 ]]; then
        timeout 20 bash /xenaccept/tcp "$peer" "$bytes" "$name" "$seq" > /tmp/tcp.out 2>/dev/null
        read -r r < /tmp/tcp.out
        out+=" ${r:-tcp=timeout}"
    fi
    out+=" ms_probe=$(( (${EPOCHREALTIME/./} - t0) / 1000 ))"
    xenstore-write data/xenaccept/result "$out"
}
last=
xenstore-watch data/xenaccept/request | while read -r _; do
    req=$(xenstore-read data/xenaccept/request 2>/dev/null) || continue
    [[ $req == "$last" ]] && continue
    last=$req
    probe $req
done
"""

# Bulk TCP with the suite's LAN peer: send BYTES of random data (its sha256 in the header),
# hear the peer's sha256 of what arrived, receive BYTES back, answer with their sha256.
TCP = r"""#!/bin/bash
export PATH=/xenaccept/bin
host=${1%:*} port=${1##*:} bytes=$2 name=$3 seq=$4
t00=${EPOCHREALTIME/./} made= up=
read -r made up < /tmp/up.sum 2>/dev/null
if [[ $made != "$bytes" ]]; then  # the data sent: made once for each size
    head -c "$bytes" /dev/urandom > /tmp/up || { echo tcp=nodata; exit; }
    up=$(sha256sum < /tmp/up); up=${up%% *}; echo "$bytes $up" > /tmp/up.sum
fi
prep_ms=$(( (${EPOCHREALTIME/./} - t00) / 1000 ))
exec 3<>"/dev/tcp/$host/$port" || { echo tcp=refused; exit; }
printf 'XA1 %s %s %s %s
' "$name" "$seq" "$bytes" "$up" >&3
cat /tmp/up >&3
read -r -t 60 word peer_up up_us <&3 || { echo "tcp=noreply up_sum=$up"; exit; }
t0=${EPOCHREALTIME/./}
head -c "$bytes" <&3 > /tmp/down
t1=${EPOCHREALTIME/./}
n=$(wc -c < /tmp/down)
down=$(sha256sum < /tmp/down); down=${down%% *}
us=$(( t1 - t0 ))
printf 'SUM %s %s %s
' "$down" "$n" "$us" >&3
read -r -t 30 word verdict <&3
rm -f /tmp/down
echo "tcp=done up_sum=$up peer_up_sum=$peer_up up_us=$up_us down_sum=$down" \
     "down_bytes=$n down_us=$us verdict=${verdict:-none} ms_prep=$prep_ms" \
     "ms_tcp=$(( (${EPOCHREALTIME/./} - t00) / 1000 ))"
"""

FILES = {"/xenaccept/dhcp-event": DHCP_EVENT, "/xenaccept/dhclient.conf": DHCLIENT_CONF,
         "/xenaccept/agent": AGENT, "/xenaccept/tcp": TCP}


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


def extra(peer: str, lan: str = "") -> str:
    """Kernel arguments of a guest: its console, the address to ping (an argument whose
    name has no dot reaches /init as an environment variable) and how it joins the LAN
    (:func:`lan_arg`; empty: not at all)."""
    return (f"console=hvc0 xenaccept_peer={peer_of(peer)}"
            + (f" xenaccept_lan={lan}" if lan else ""))


def lan_arg(lan: LAN, guest: str) -> str:
    """``dhcp``, ``static,ADDR/LEN,GW`` (validated by the inventory), or "" (``lan: none``)."""
    if not lan.enabled:
        return ""
    if lan.addresses:
        return f"static,{lan.addresses[guest]},{lan.gateway or ''}".rstrip(",")
    return "dhcp"


def build(dom0: Runner, release: str, lan: LAN, log: Callable[[str], None] = print) -> str:
    """Build the guests' ramdisk in Dom0; returns its path."""
    tools = TOOLS + (LAN_TOOLS if lan.enabled else ()) + ((DHCP_CLIENT,) if lan.dhcp else ())
    if lan.dhcp and not dom0.run("sh", "-c", f"command -v {DHCP_CLIENT}").ok:
        raise HarnessError(
            f"Dom0 has no {DHCP_CLIENT} (Debian: isc-dhcp-client): the guests take their DHCP "
            "client from Dom0. Install it, give the guests static addresses (lan.addresses "
            "and lan.gateway in the inventory), or leave the LAN out (lan: none)")
    dom0.run("mkdir", "-p", "-m", "0700", GUEST_PAYLOAD_DIR, mutates=True, check=True)
    kb = initramfs.build(dom0, release, PATH, INIT, tools, MODULES, what="the guests' ramdisk",
                         files=FILES if lan.enabled else None)
    log(f"guest payload: {PATH} ({kb // 1024 or 1} MB: netfront, {', '.join(tools)} from Dom0)")
    return PATH
