"""Every hop of a guest's path to the LAN in the driver domain, read without changing
anything: guest -> netfront -> its vif (``vif<domid>.<devid>``) -> the bridge -> the NIC.

One :func:`read` takes a :class:`PathSnapshot`: the interfaces with their MTU, flags,
bridge-port settings and counters (``ip -j -d -s link show``), the bridge's VLANs
(``bridge -j vlan show``), the queueing disciplines with their drops (``tc -j -s qdisc
show``), the bridge's forwarding database (``bridge -j -s fdb show br BR``) and the packet
filters a bridged frame can meet (:mod:`xenaccept.resources.netfilter`). A command that
fails, times out or is not installed is noted in :attr:`PathSnapshot.unread`, never fails
the read. Two snapshots around a probe tell by their counters where frames stopped.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from collections.abc import Callable
from typing import Any, NamedTuple, TypeVar

from xenaccept.errors import CommandTimeout
from xenaccept.model import validate
from xenaccept.resources import netfilter
from xenaccept.resources.bridge import FdbEntry, parse_fdb
from xenaccept.resources.netfilter import NftChain, XtChain
from xenaccept.transport.runner import Runner

T = TypeVar("T")
TIMEOUT = 20.0
ETH_HLEN = 14    # an Ethernet header: a full-size frame is the MTU plus this
PORT_FLAGS = ("learning", "flood", "mcast_flood", "bcast_flood", "isolated")


@dataclass(frozen=True)
class Counters:
    packets: int = 0
    dropped: int = 0
    errors: int = 0


@dataclass(frozen=True)
class PortSettings:
    """A bridge port's settings (``info_slave_data``). ``learning``: the bridge learns the
    source MACs of frames entering it; ``flood``/``mcast_flood``/``bcast_flood``: unknown
    unicast, multicast, broadcast frames are sent out of it; ``isolated``: it forwards
    nothing to another isolated port."""

    state: str = "forwarding"
    learning: bool = True
    flood: bool = True
    mcast_flood: bool = True
    bcast_flood: bool = True
    isolated: bool = False


@dataclass(frozen=True)
class Link:
    name: str
    mtu: int
    flags: tuple[str, ...] = ()           # UP (administratively up), LOWER_UP (carrier)
    operstate: str = ""
    master: str = ""                      # the bridge it is a port of
    port: PortSettings | None = None      # set for a bridge port
    bridge: dict[str, Any] = field(default_factory=dict)  # a bridge's info_data
    rx: Counters = Counters()
    tx: Counters = Counters()

    @property
    def up(self) -> bool:
        return "UP" in self.flags

    @property
    def carrier(self) -> bool:
        return "LOWER_UP" in self.flags

    @property
    def vlan_filtering(self) -> bool:
        return bool(self.bridge.get("vlan_filtering"))


class Vlan(NamedTuple):
    vid: int
    pvid: bool        # untagged frames entering the port are put in this VLAN
    untagged: bool    # frames of this VLAN leave the port untagged

    def describe(self) -> str:
        said = [w for w, on in (("PVID", self.pvid), ("untagged", self.untagged)) if on]
        return f"VLAN {self.vid}" + (f" ({', '.join(said)})" if said else " (tagged)")


class Qdisc(NamedTuple):
    dev: str
    kind: str
    root: bool
    options: dict[str, Any]
    drops: int
    packets: int


@dataclass(frozen=True)
class PathSnapshot:
    bridge: str
    links: dict[str, Link] = field(default_factory=dict)
    vlans: dict[str, list[Vlan]] = field(default_factory=dict)
    qdiscs: list[Qdisc] = field(default_factory=list)
    fdb: list[FdbEntry] = field(default_factory=list)
    brnf: dict[str, int] = field(default_factory=dict)  # {"iptables": 1, ...}; {} = not loaded
    xtables: dict[str, XtChain] = field(default_factory=dict)  # {"iptables": FORWARD, ...}
    nft: list[NftChain] = field(default_factory=list)
    unread: dict[str, str] = field(default_factory=dict)  # {what: why it was not read}

    @property
    def brnf_loaded(self) -> bool:
        return bool(self.brnf)


def _counters(stats: dict[str, Any]) -> Counters:
    return Counters(int(stats.get("packets", 0)), int(stats.get("dropped", 0)),
                    int(stats.get("errors", 0)))


def _port(data: dict[str, Any]) -> PortSettings:
    flags = {k: bool(data[k]) for k in PORT_FLAGS if k in data}
    return PortSettings(str(data.get("state", "forwarding")), **flags)


def parse_links(text: str) -> dict[str, Link]:
    """``ip -j -d -s link show`` -> {name: Link}."""
    links = {}
    for e in json.loads(text or "[]"):
        info = e.get("linkinfo", {})
        stats = e.get("stats64", e.get("stats", {}))
        port = _port(info["info_slave_data"]) if info.get("info_slave_kind") == "bridge" else None
        bridge = info.get("info_data", {}) if info.get("info_kind") == "bridge" else {}
        links[e["ifname"]] = Link(e["ifname"], int(e.get("mtu", 0)), tuple(e.get("flags", ())),
                                  e.get("operstate", ""), e.get("master", ""), port,
                                  dict(bridge), _counters(stats.get("rx", {})),
                                  _counters(stats.get("tx", {})))
    return links


def parse_vlans(text: str) -> dict[str, list[Vlan]]:
    """``bridge -j vlan show`` -> {ifname: its VLANs} (a range is listed VLAN by VLAN; a
    port without any VLAN is absent)."""
    data = json.loads(text or "[]")
    if isinstance(data, dict):   # iproute2 before 5.x: {ifname: [vlans]}
        data = [{"ifname": k, "vlans": v} for k, v in data.items()]
    found: dict[str, list[Vlan]] = {}
    for e in data:
        for v in e.get("vlans", []):
            flags = v.get("flags", [])
            for vid in range(v["vlan"], v.get("vlanEnd", v["vlan"]) + 1):
                found.setdefault(e["ifname"], []).append(
                    Vlan(vid, "PVID" in flags, "Egress Untagged" in flags))
    return found


def parse_qdiscs(text: str) -> list[Qdisc]:
    """``tc -j [-s] qdisc show`` -> every qdisc (drops and packets 0 without ``-s``)."""
    return [Qdisc(e.get("dev", ""), e.get("kind", ""), bool(e.get("root")),
                  dict(e.get("options", {})), int(e.get("drops", 0)), int(e.get("packets", 0)))
            for e in json.loads(text or "[]")]


def _missing(rc: int, err: str) -> bool:
    """The command itself is not installed (bash: "command not found", dash: "nft: not
    found")."""
    return rc == 127 or "command not found" in err or err.rstrip().endswith(": not found")


def _parsed(unread: dict[str, str], what: str, parse: Callable[[str], T], text: str) -> T:
    """``parse(text)``; what it makes of no output when the output is not what it knows
    (noted under ``what``)."""
    try:
        return parse(text)
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        unread[what] = f"output not understood ({type(e).__name__}: {e})"
        return parse("")


def _read(runner: Runner, unread: dict[str, str], what: str, *argv: str) -> str | None:
    """stdout of ``argv``, or None with the reason noted under ``what``."""
    try:
        r = runner.run(*argv, timeout=TIMEOUT)
    except CommandTimeout:
        unread[what] = f"timed out after {TIMEOUT:g} s"
        return None
    if r.ok:
        return r.stdout
    err = r.stderr.strip().splitlines()[-1:] or [""]
    unread[what] = "not installed" if _missing(r.exit_status, r.stderr) else \
        f"exited {r.exit_status}" + (f": {err[0]}" if err[0] else "")
    return None


def _brnf(runner: Runner, unread: dict[str, str]) -> dict[str, int]:
    """The bridge-nf-call-* values; {} when br_netfilter is not loaded (no such files)."""
    found = {}
    for key in netfilter.BRNF_KEYS:
        text = _read(runner, unread, f"bridge-nf-call-{key}", "cat", netfilter.BRNF_PATH.format(key))
        value = netfilter.parse_brnf(text) if text is not None else None
        if value is not None:
            found[key] = value
    for key in netfilter.BRNF_KEYS:   # an absent file is an answer: the module is not loaded
        if "No such file" in unread.get(f"bridge-nf-call-{key}", ""):
            del unread[f"bridge-nf-call-{key}"]
    return found


def read(runner: Runner, bridge: str) -> PathSnapshot:
    """Read every hop of ``bridge`` in the driver domain (read-only commands, each bounded
    by a timeout; what could not be read is in ``unread``)."""
    bridge = validate.ifname(bridge, "bridge")
    unread: dict[str, str] = {}

    def get(what: str, parse: Callable[[str], T], *argv: str) -> T:
        return _parsed(unread, what, parse, _read(runner, unread, what, *argv) or "")

    links = get("ip link", parse_links, "ip", "-j", "-d", "-s", "link", "show")
    vlans = get("bridge vlan", parse_vlans, "bridge", "-j", "vlan", "show")
    qdiscs = get("tc qdisc", parse_qdiscs, "tc", "-j", "-s", "qdisc", "show")
    fdb = get("bridge fdb", parse_fdb, "bridge", "-j", "-s", "fdb", "show", "br", bridge)
    brnf = _brnf(runner, unread)
    xtables = {tool: get(tool, netfilter.parse_xt_chain, tool, "-S", "FORWARD")
               for tool in ("iptables", "ip6tables")}
    xtables = {tool: chain for tool, chain in xtables.items() if tool not in unread}
    nft = get("nft", netfilter.parse_nft, "nft", "-j", "list", "ruleset")
    return PathSnapshot(bridge, links, vlans, qdiscs, fdb, brnf, xtables, nft, unread)
