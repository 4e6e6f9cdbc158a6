"""Where a guest's frames stopped, from the counters of its vif and of the NIC in two
:class:`~xenaccept.resources.netpath.PathSnapshot` taken around a probe."""

from __future__ import annotations

from xenaccept.resources.netpath import PathSnapshot


def where(before: PathSnapshot, after: PathSnapshot, *, nic: str, vif: str,
          guest: str | None = None) -> str:
    """Where frames stopped between two snapshots taken around a probe, from the counters
    that moved: ``vif`` rx (frames from the guest), ``nic`` tx (out to the LAN), ``nic`` rx
    (answers), ``vif`` tx (answers delivered to the guest) and drops on either. Other
    traffic moves the NIC's counters too: probe while the guest is the one talking."""
    missing = [i for i in (vif, nic) for s in (before, after) if i not in s.links]
    if missing:
        return f"{missing[0]} is missing from a snapshot: no counters to compare"
    back = [i for i in (vif, nic) for w in ("rx", "tx")
            if getattr(after.links[i], w).packets < getattr(before.links[i], w).packets]
    if back:
        return f"{back[0]}'s counters went back (the interface was made again): no comparison"

    def moved(ifname: str, way: str) -> int:
        return getattr(after.links[ifname], way).packets - getattr(before.links[ifname], way).packets

    who = f"{guest}'s frames" if guest else "the guest's frames"
    if not (vif_rx := moved(vif, "rx")):
        said = f"{who} did not reach {vif} (rx +0): they stop in the guest or in netback"
    elif not (nic_tx := moved(nic, "tx")):
        said = f"{who} reached {vif} (rx +{vif_rx}) but none left through {nic} (tx +0): " \
               "they stop in the bridge"
    else:
        said = f"{who} reached {vif} (rx +{vif_rx}) and left through {nic} (tx +{nic_tx}); " \
               + _answers(moved(nic, "rx"), moved(vif, "tx"), nic=nic, vif=vif)
    drops = _drops(before, after, (vif, nic))
    return said + (f"; drops: {', '.join(drops)}" if drops else "")


def _answers(nic_rx: int, vif_tx: int, *, nic: str, vif: str) -> str:
    if not nic_rx:
        return f"no answer arrived on {nic} (rx +0): the LAN did not answer"
    if not vif_tx:
        return f"answers arrived on {nic} (rx +{nic_rx}) but none were delivered to {vif} (tx +0)"
    return f"answers arrived on {nic} (rx +{nic_rx}) and were delivered to {vif} (tx +{vif_tx})"


def _drops(before: PathSnapshot, after: PathSnapshot, ifnames: tuple[str, str]) -> list[str]:
    said = []
    for i in ifnames:
        for way in ("rx", "tx"):
            old, new = getattr(before.links[i], way), getattr(after.links[i], way)
            for what in ("dropped", "errors"):
                if (n := getattr(new, what) - getattr(old, what)) > 0:
                    said.append(f"{i} {way} {what} +{n}")
    old_q = {(q.dev, q.kind): q.drops for q in before.qdiscs}
    said += [f"{q.dev} qdisc {q.kind} dropped +{q.drops - old_q.get((q.dev, q.kind), 0)}"
             for q in after.qdiscs if q.dev in ifnames
             and q.drops > old_q.get((q.dev, q.kind), 0)]
    return said
