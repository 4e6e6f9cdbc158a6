"""Why a guest's traffic does not reach the LAN: each hop in the driver domain read from a
:class:`~xenaccept.resources.netpath.PathSnapshot`, and every setting on the path that stops
the guest's frames named as a cause an operator can act on.

The path: guest -> netfront -> its vif -> the bridge -> the NIC -> the LAN; answers come
back the other way. A frame the bridge forwards out of a port must fit that port's MTU
(the bridge device's own MTU limits only what the driver domain itself sends), pass its
VLAN filter, its queue and the packet filters the bridge hands it to. Nothing here reads a
host: :func:`causes` and :func:`where` work on snapshots.
"""

from __future__ import annotations

from dataclasses import dataclass

from xenaccept.checks.lancounters import where
from xenaccept.checks.lanfilter import filter_causes
from xenaccept.resources.netpath import ETH_HLEN, Link, PathSnapshot, Qdisc, Vlan

__all__ = ["GuestPath", "causes", "where"]


@dataclass(frozen=True)
class GuestPath:
    """The hops of one guest: its name, MAC and MTU, its vif, the bridge and the NIC."""

    snap: PathSnapshot
    bridge: str
    nic: str
    vif: str
    mac: str
    mtu: int
    guest: str

    def name(self, ifname: str) -> str:
        role = "the NIC" if ifname == self.nic else f"{self.guest}'s vif"
        return f"{ifname} ({role})"

    def toward(self, ifname: str) -> str:
        """Where frames leaving ``ifname`` go."""
        return "to the LAN" if ifname == self.nic else f"to {self.guest}"


def causes(snap: PathSnapshot, *, bridge: str, nic: str, vif: str, mac: str, guest_mtu: int,
           guest: str) -> list[str]:
    """Every setting on ``guest``'s path to the LAN that stops its frames or the answers to
    them, one sentence each naming the hop, the setting and its effect; [] when none."""
    p = GuestPath(snap, bridge, nic, vif, mac.lower(), guest_mtu, guest)
    found = [*_membership(p, vif), *_membership(p, nic)]
    ports = [snap.links[i] for i in (vif, nic) if i in snap.links and snap.links[i].master == bridge]
    for link in ports:
        found += [*_mtu(p, link), *_port(p, link), *_qdiscs(p, link)]
    if len(ports) == 2:
        found += [*_isolated(p, *ports), *_vlans(p)]
    return found + _fdb(p) + filter_causes(snap, bridge=bridge, nic=nic, vif=vif, guest=guest)


def _membership(p: GuestPath, ifname: str) -> list[str]:
    link = p.snap.links.get(ifname)
    if "ip link" in p.snap.unread:
        return []
    if link is None:
        return [f"{p.name(ifname)}: no such interface in the driver domain: "
                + ("the NIC is not there (not passed through, or its driver not bound)"
                   if ifname == p.nic else f"{p.guest}'s backend is not plugged in")]
    if link.master != p.bridge:
        where = f"a port of {link.master}" if link.master else "a port of no bridge"
        return [f"{p.name(ifname)}: {where}, not of {p.bridge}: frames of {p.guest} "
                f"never cross {p.bridge} through it (ip link set {ifname} master {p.bridge})"]
    return []


def _mtu(p: GuestPath, link: Link) -> list[str]:
    if link.mtu >= p.mtu:
        return []
    what = "full-size frames" if link.name == p.nic else f"full-size frames {p.toward(link.name)}"
    return [f"{p.name(link.name)}: MTU {link.mtu}, below {p.guest}'s {p.mtu}: {what} are "
            "dropped at the bridge, small ones pass"]


def _port(p: GuestPath, link: Link) -> list[str]:
    name, port, found = p.name(link.name), link.port, []
    if not link.up:
        found.append(f"{name}: administratively down: it passes no frame "
                     f"(ip link set {link.name} up)")
    elif not link.carrier:
        other = "the cable or the LAN's switch port" if link.name == p.nic else \
            f"{p.guest}'s netfront"
        found.append(f"{name}: no carrier: {other} is not connected, so no frame passes")
    if port is None:
        return found
    if port.state != "forwarding":
        found.append(f"{name}: bridge port state {port.state}, not forwarding: {p.bridge} "
                     f"forwards no frame through it")
    if not port.learning and not port.flood:
        found.append(_unlearned(p, link.name))
    if not port.bcast_flood:
        found.append(f"{name}: bcast_flood off: broadcasts (ARP requests, DHCP) are not sent "
                     f"{p.toward(link.name)} (bridge link set dev {link.name} bcast_flood on)")
    if not port.mcast_flood:
        found.append(f"{name}: mcast_flood off: multicast (IPv6 neighbour solicitations) is "
                     f"not sent {p.toward(link.name)} (bridge link set dev {link.name} "
                     "mcast_flood on)")
    return found


def _unlearned(p: GuestPath, ifname: str) -> str:
    fix = f"(bridge link set dev {ifname} learning on flood on)"
    if ifname == p.nic:
        return (f"{p.name(ifname)}: learning off and flood off: {p.bridge} neither learns "
                f"the LAN's addresses on it nor floods unknown unicast to it, so {p.guest}'s "
                f"unicast frames to the LAN are dropped at the bridge {fix}")
    return (f"{p.name(ifname)}: learning off and flood off: {p.bridge} neither learns "
            f"{p.guest}'s MAC on it nor floods unknown unicast to it, so unicast answers "
            f"for {p.guest} are dropped at the bridge once its learned entry ages out {fix}")


def _isolated(p: GuestPath, vif: Link, nic: Link) -> list[str]:
    if not (vif.port and nic.port and vif.port.isolated and nic.port.isolated):
        return []
    return [f"{p.name(vif.name)} and {p.name(nic.name)} are both isolated ports of "
            f"{p.bridge}: isolated ports do not forward to each other, so {p.guest}'s frames "
            f"never reach the LAN (bridge link set dev {vif.name} isolated off)"]


def _vlans(p: GuestPath) -> list[str]:
    bridge = p.snap.links.get(p.bridge)
    if bridge is None or not bridge.vlan_filtering or "bridge vlan" in p.snap.unread:
        return []
    vif_v, nic_v = p.snap.vlans.get(p.vif, []), p.snap.vlans.get(p.nic, [])
    pvid = next((v for v in vif_v if v.pvid), None)
    if pvid is None:
        why = f"{p.guest}'s untagged frames are dropped as they enter {p.vif}, which has no PVID"
    elif not pvid.untagged:
        why = f"answers leave {p.vif} tagged with VLAN {pvid.vid}, which {p.guest} drops"
    elif pvid not in nic_v:
        why = _nic_mismatch(p, pvid.vid, nic_v)
    else:
        return []
    return [f"{p.bridge} filters VLANs (vlan_filtering 1) and {p.name(p.vif)} has "
            f"{_vlan_list(vif_v)}, {p.name(p.nic)} has {_vlan_list(nic_v)}: they share no "
            f"VLAN with the same PVID/untagged setting, so {why} (bridge vlan show)"]


def _nic_mismatch(p: GuestPath, vid: int, nic_v: list[Vlan]) -> str:
    same = next((v for v in nic_v if v.vid == vid), None)
    if same is None:
        return f"{p.bridge} does not forward {p.guest}'s frames (VLAN {vid}) to {p.nic}"
    said = [] if same.untagged else [f"{p.guest}'s frames leave {p.nic} tagged with VLAN {vid}"]
    if not same.pvid:
        pvid = next((v.vid for v in nic_v if v.pvid), None)
        said.append(f"untagged answers entering {p.nic} are "
                    + (f"put in VLAN {pvid}, not {vid}" if pvid else "dropped (no PVID)"))
    return " and ".join(said)


def _vlan_list(vlans: list[Vlan]) -> str:
    if not vlans:
        return "no VLAN at all"
    shown = ", ".join(v.describe() for v in vlans[:4])
    return shown + (f" and {len(vlans) - 4} more" if len(vlans) > 4 else "")


def _qdiscs(p: GuestPath, link: Link) -> list[str]:
    return [c for q in p.snap.qdiscs if q.dev == link.name for c in _qdisc(p, q)]


def _qdisc(p: GuestPath, q: Qdisc) -> list[str]:
    name, frame = f"{p.name(q.dev)}: qdisc {q.kind}", p.mtu + ETH_HLEN
    limit, found = q.options.get("limit"), []
    if q.kind == "bfifo" and isinstance(limit, int) and limit < frame:
        found.append(f"{name} holds {limit} bytes, less than one full-size frame ({frame} "
                     f"bytes): full-size frames {p.toward(q.dev)} are dropped in its queue, "
                     f"small ones pass (tc qdisc del dev {q.dev} root)")
    if q.kind == "pfifo" and limit == 0:
        found.append(f"{name} holds 0 packets: every frame {p.toward(q.dev)} is dropped in "
                     f"its queue (tc qdisc del dev {q.dev} root)")
    if q.drops:
        found.append(f"{name} dropped {q.drops} of {q.packets + q.drops} packets "
                     f"{p.toward(q.dev)} (tc -s qdisc show dev {q.dev})")
    return found


def _fdb(p: GuestPath) -> list[str]:
    mine = [e for e in p.snap.fdb if e.mac == p.mac and "self" not in e.flags]
    own = [e.updated for e in mine if e.ifname == p.vif]
    found = []
    for e in (e for e in mine if e.ifname != p.vif):
        entry = f"the fdb of {p.bridge} holds {p.guest}'s MAC {p.mac}"
        if e.state == "static":
            found.append(f"{entry} as a static entry on {e.ifname}, not on {p.vif}: frames "
                         f"for {p.guest} go to {e.ifname} (bridge fdb del {p.mac} dev "
                         f"{e.ifname} master)")
        elif e.state == "permanent":
            found.append(f"{entry} as {e.ifname}'s own address: frames for {p.guest} are "
                         "taken by the driver domain itself, never forwarded to it")
        elif _fresher(e.updated, own):
            ago = f" ({e.updated} s ago)" if e.updated is not None else ""
            than = f"more recently than on {p.vif}" if own else f"not on {p.vif}"
            found.append(f"{entry} as learned on {e.ifname}{ago}, {than}: frames for "
                         f"{p.guest} go to {e.ifname} (another host uses its MAC, or its "
                         "frames loop back)")
    return list(dict.fromkeys(found))  # an entry per VLAN and one without: said once


def _fresher(updated: int | None, own: list[int | None]) -> bool:
    if not own:
        return True
    ages = [a for a in own if a is not None]
    return updated is not None and bool(ages) and updated < min(ages)

