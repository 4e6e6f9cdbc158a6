"""Linux bridges: exact port membership, learned MACs, and making one.

Membership comes from sysfs (``/sys/class/net/BR/brif``) or ``bridge -j link``, compared as
whole names: ``vif1.1`` is never taken for ``vif1.10``.
"""

from __future__ import annotations

import ipaddress
import json
import shlex
from dataclasses import dataclass

from xenaccept.errors import HarnessError
from xenaccept.names import bridge_unit, unbridge_unit
from xenaccept.model import validate
from xenaccept.transport.runner import Runner


@dataclass(frozen=True)
class Port:
    ifname: str
    master: str
    state: str
    flags: tuple[str, ...] = ()    # UP (administratively up), LOWER_UP (carrier), ...
    learning: bool = True          # the bridge learns source MACs on it

    def trouble(self, *, learning: bool = True) -> str | None:
        """Why this port forwards no frame (and, with ``learning``, why the bridge learns
        none on it), in words; None when fine."""
        said = []
        if "UP" not in self.flags:
            said.append("administratively down")
        elif "LOWER_UP" not in self.flags:
            said.append("no carrier (its other end is not connected)")
        if self.state != "forwarding":
            said.append(f"port state {self.state or 'unknown'}")
        if learning and not self.learning:
            said.append("learning off")
        return ", ".join(said) or None


@dataclass(frozen=True)
class FdbEntry:
    mac: str
    ifname: str
    permanent: bool
    updated: int | None = None     # seconds since a frame last refreshed it (with -s)
    state: str = ""                # "" (learned), "static", "permanent" (a port's own MAC)
    flags: tuple[str, ...] = ()    # "self": the device's own table, not the bridge's


def parse_bridge_link(text: str) -> list[Port]:
    """``bridge -j [-d] link`` (JSON) -> ports with their bridge, STP state, link flags
    and (with -d) whether the bridge learns on them."""
    return [Port(e["ifname"], e.get("master", ""), e.get("state", ""),
                 tuple(e.get("flags", ())), bool(e.get("learning", True)))
            for e in json.loads(text or "[]") if "ifname" in e]


def parse_fdb(text: str) -> list[FdbEntry]:
    """``bridge -j [-s] fdb show br BR`` (JSON) -> entries (self/permanent ones flagged;
    with -s, how long ago each was refreshed). A static entry an operator added is not
    ``permanent``: its ``state`` says "static"."""
    entries = []
    for e in json.loads(text or "[]"):
        if "mac" in e and "ifname" in e:
            permanent = e.get("state") == "permanent" or "self" in e.get("flags", [])
            updated = e.get("updated")
            entries.append(FdbEntry(e["mac"].lower(), e["ifname"], permanent,
                                    int(updated) if isinstance(updated, int) else None,
                                    str(e.get("state", "")), tuple(e.get("flags", ()))))
    return entries


def parse_link_local(text: str) -> list[str]:
    """``ip -j -6 addr show dev IF scope link`` -> its link-local addresses."""
    return [a["local"] for e in json.loads(text or "[]") for a in e.get("addr_info", [])
            if a.get("family") == "inet6" and a.get("scope") == "link" and "local" in a]


def parse_brctl_show(text: str) -> dict[str, list[str]]:
    """``brctl show`` -> {bridge: [ports]}; the first port stands on the bridge's row,
    further ports on continuation lines."""
    bridges: dict[str, list[str]] = {}
    current: str | None = None
    for line in text.splitlines()[1:]:
        if not line.strip():
            continue
        fields = line.split()
        if not line[0].isspace():
            current = fields[0]
            bridges[current] = fields[3:4]
        elif current is not None:
            bridges[current].append(fields[0])
    return bridges


class Bridge:
    def __init__(self, runner: Runner, name: str) -> None:
        self.runner = runner
        self.name = validate.ifname(name, "bridge")
        self.sysfs = f"/sys/class/net/{self.name}"

    def _sysfs(self) -> tuple[str, list[str]] | None:
        """(operstate, ports from brif) in one read; None when no such bridge."""
        r = self.runner.run("sh", "-c", 'd="$1"; [ -d "$d/bridge" ] || exit 0; '
                            'echo bridge; cat "$d/operstate"; ls -1 "$d/brif"', "sh",
                            self.sysfs, once=True)
        lines = r.stdout.split()
        if not r.ok or lines[:1] != ["bridge"]:
            return None
        return (lines[1] if len(lines) > 1 else "unknown"), sorted(lines[2:])

    @property
    def exists(self) -> bool:
        return self._sysfs() is not None

    @property
    def is_up(self) -> bool:
        """Administratively up with carrier (operstate 'up')."""
        return self.operstate == "up"

    @property
    def operstate(self) -> str:
        found = self._sysfs()
        return found[0] if found else "absent"

    def ports(self) -> list[str]:
        """Ports enslaved to this bridge, from sysfs (brif)."""
        found = self._sysfs()
        return found[1] if found else []

    def all_ports(self) -> list[Port]:
        """Every bridge port of the host, on this bridge or another (``bridge -j -d link``)."""
        return parse_bridge_link(self.runner.out("bridge", "-j", "-d", "link", "show",
                                                 once=True))

    def port_states(self) -> dict[str, str]:
        """{port: STP state} for this bridge, from ``bridge -j -d link``."""
        return {p.ifname: p.state for p in self.all_ports() if p.master == self.name}

    def port(self, ifname: str) -> Port | None:
        """``ifname`` as a bridge port (of whichever bridge), None when it is no port."""
        return next((p for p in self.all_ports() if p.ifname == ifname), None)

    def fdb(self) -> list[FdbEntry]:
        return parse_fdb(self.runner.out("bridge", "-j", "-s", "fdb", "show", "br",
                                         self.name))

    def learned_entries(self, mac: str) -> list[FdbEntry]:
        """The dynamic entries of ``mac``, with how long ago a frame refreshed each."""
        mac = validate.mac(mac)
        return [e for e in self.fdb() if e.mac == mac and not e.permanent]

    def addresses(self) -> list[str]:
        """Every address of the bridge (``ip -j addr``), as ``addr/prefix``."""
        r = self.runner.run("ip", "-j", "addr", "show", "dev", self.name, once=True)
        if not r.ok:
            return []
        return [f"{a['local']}/{a.get('prefixlen', '?')}" for e in json.loads(r.stdout or "[]")
                for a in e.get("addr_info", []) if "local" in a]

    def link_local(self) -> str:
        """The bridge's IPv6 link-local address (``ip -j -6 addr``)."""
        text = self.runner.out("ip", "-j", "-6", "addr", "show", "dev", self.name, "scope",
                               "link")
        addrs = parse_link_local(text)
        if not addrs:
            raise HarnessError(f"bridge {self.name} has no IPv6 link-local address "
                               "(the guests ping it): is IPv6 disabled in the driver domain?")
        return addrs[0]

    def pings(self, address: str, count: int = 1, timeout: float = 6.0) -> bool:
        """``ping -6`` of a link-local ``address`` across this bridge, until ``count``
        replies came back (True) or ``timeout`` seconds passed (False)."""
        addr = str(ipaddress.IPv6Address(address))
        r = self.runner.run("ping", "-6", "-n", "-q", "-c", str(int(count)), "-i", "0.5",
                            "-w", str(int(timeout)), f"{addr}%{self.name}",
                            timeout=timeout + 15)
        return r.ok

    # -- changes --
    def create_with(self, nic: str, timeout: float = 30.0) -> None:
        """Make the bridge with ``nic`` enslaved, moving the NIC's IPv4 addresses and default
        route onto the bridge, in one detached shell on the host (so a session over that NIC
        survives). The bridge takes the NIC's MAC, so DHCP leases and ARP caches still hold.
        """
        nic = validate.ifname(nic, "driver_domain.nic")
        script = _MOVE_SCRIPT.format(br=shlex.quote(self.name), nic=shlex.quote(nic))
        self.runner.run("systemd-run", "--quiet", "--collect", f"--unit={bridge_unit(self.name)}",
                        "sh", "-c", script, timeout=timeout, mutates=True, check=True)

    def remove(self, nic: str, timeout: float = 30.0) -> None:
        """Undo :meth:`create_with`: addresses back on the NIC, bridge deleted (detached)."""
        nic = validate.ifname(nic, "driver_domain.nic")
        script = _UNDO_SCRIPT.format(br=shlex.quote(self.name), nic=shlex.quote(nic))
        self.runner.run("systemd-run", "--quiet", "--collect",
                        f"--unit={unbridge_unit(self.name)}", "sh", "-c", script,
                        timeout=timeout, mutates=True, check=True)


# Runs on the host as one unit: addresses/route of NIC move to BR. Values are pre-quoted.
_MOVE_SCRIPT = r"""set -e
br={br}; nic={nic}
mac=$(cat /sys/class/net/$nic/address)
addrs=$(ip -o -4 addr show dev $nic | awk '{{print $4}}')
gw=$(ip -4 route show default dev $nic | awk '{{print $3; exit}}')
ip link add $br address $mac type bridge forward_delay 0 stp_state 0
ip link set $nic master $br
ip link set $br up
for a in $addrs; do ip addr del $a dev $nic; ip addr add $a dev $br; done
if [ -n "$gw" ]; then ip route replace default via $gw dev $br; fi
"""

_UNDO_SCRIPT = r"""set -e
br={br}; nic={nic}
addrs=$(ip -o -4 addr show dev $br | awk '{{print $4}}')
gw=$(ip -4 route show default dev $br | awk '{{print $3; exit}}')
ip link set $nic nomaster
for a in $addrs; do ip addr del $a dev $br; ip addr add $a dev $nic; done
if [ -n "$gw" ]; then ip route replace default via $gw dev $nic; fi
ip link del $br
"""
