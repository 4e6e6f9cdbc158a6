"""7 (LAN). The guests reach the LAN through the driver domain and its NIC: each one's
lease, full-size frames to the gateway and back, bulk TCP both ways with a LAN peer.

The suite's guests run an agent (:mod:`xenaccept.images.guest_payload`): it publishes its
lease in the guest's own xenstore directory (``data/xenaccept/lan/``) and answers a probe
asked in ``data/xenaccept/request`` with one line in ``data/xenaccept/result``. Dom0 asks
and reads both; nothing is logged into, and nothing of the hosts' configuration changes
(check mode asks too: a probe is a message to the suite's own guest, like a ping).
"""

from __future__ import annotations

import time
from collections.abc import Collection
from dataclasses import dataclass, field

from xenaccept.checks import lanpath
from xenaccept.checks.context import Context
from xenaccept.checks.guests import served_vif
from xenaccept.errors import CheckFailed, HarnessError
from xenaccept.images.guest_payload import LAN_KEY
from xenaccept.resources import netpath
from xenaccept.resources.lanpeer import Peer, Session
from xenaccept.resources.xenstore import parse_tree
from xenaccept.transport.wait import WaitTimeout

PINGS = 20          # full-size pings with DF set, 20 ms apart (3 s at most): one lost shows
PROBE_TIMEOUT = 45  # pings: 3 s at most; bulk TCP: 20 s at most

# Dom0: $1 seconds (0: ask, do not wait), $2 the probe's number, then (domid, request)
# pairs (an empty request: asked before, only wait): ask each guest, wait for every answer
# until the deadline, print each guest's directory. One command for all the guests: they
# probe side by side.
_ASK = r"""t=$1 seq=$2; shift 2
doms= paths= n=0 pairs=$(( $# / 2 ))
while [ $n -lt $pairs ]; do  # (domid, request) pairs -> (path, request): one write for all
    [ -n "$2" ] && set -- "$@" "/local/domain/$1/data/xenaccept/request" "$2"
    doms="$doms $1" paths="$paths /local/domain/$1/data/xenaccept/result" n=$((n + 1))
    shift 2
done
[ $# = 0 ] || xenstore-write "$@" || exit 3
[ "$t" = 0 ] && exit 0
polls=$((t * 10))
while [ $polls -gt 0 ]; do
    got=0
    for w in $(xenstore-read $paths 2>/dev/null); do [ "$w" = "seq=$seq" ] && got=$((got + 1)); done
    [ $got -ge $n ] && break
    polls=$((polls - 1))
    sleep 0.1
done
for d in $doms; do xenstore-ls -f "/local/domain/$d/data/xenaccept"; done
exit 0
"""


_NODES = 'for d; do xenstore-ls -f "/local/domain/$d/data/xenaccept" 2>/dev/null; done; exit 0'


@dataclass
class Probe:
    guest: str
    domid: int
    nodes: dict[str, str]          # data/xenaccept/*: agent, lan/address, result, ...
    session: Session | None        # what the LAN peer saw (None: no peer, or nothing came)
    seconds: float
    seq: int = 0
    state: str = ""                # xl list's: a paused guest ("--p---") answers nothing
    explained: str | None = None   # what explain() found, once for the probe's scenarios
    # the probes asked with this one (explained together when they fail)
    group: dict[str, Probe] | None = field(default=None, repr=False, compare=False)

    def running(self) -> None:
        if "p" in self.state:
            raise CheckFailed("xl list", f"{self.guest} running",
                              f"{self.guest} is paused (state {self.state}): it answers nothing")

    @property
    def lease(self) -> dict[str, str]:
        return {k[4:]: v for k, v in self.nodes.items() if k.startswith("lan/")}

    @property
    def result(self) -> dict[str, str]:
        r = parse_result(self.nodes.get("result", ""))
        return r if r.get("seq") == str(self.seq) else {}


def agent_nodes(text: str, domid: int) -> dict[str, str]:
    """``xenstore-ls -f /local/domain/D/data/xenaccept`` -> {relative path: value}."""
    return parse_tree(text, f"/local/domain/{domid}/{LAN_KEY}")


def parse_result(line: str) -> dict[str, str]:
    return dict(kv.split("=", 1) for kv in line.split() if "=" in kv)


def agents(ctx: Context) -> dict[str, Probe]:
    """Each guest's domid and what its agent published (no probe asked)."""
    doms = {}
    for guest in ctx.target.guests.names:
        dom = ctx.dom0.xl.domain(guest)
        if dom is None:
            raise CheckFailed("xl list", f"{guest} running", "no such domain")
        doms[guest] = dom
    # every guest's directory in one read (a guest without an agent has none: no lines)
    r = ctx.dom0.runner.run("sh", "-c", _NODES, "sh", *(str(d.domid) for d in doms.values()))
    return {guest: Probe(guest, d.domid, agent_nodes(r.stdout, d.domid), None, 0.0,
                         state=d.state) for guest, d in doms.items()}


@dataclass
class Asked:
    """A probe asked and not yet read: its number, the guests asked, when."""
    seq: int
    guests: dict[str, Probe]
    at: float
    tcp: bool


def ask(ctx: Context, only: Collection[str] | None = None, tcp: bool = True,
        count: int = PINGS, known: dict[str, Probe] | None = None,
        size: int | None = None) -> Asked:
    """Ask every guest with an agent (or ``only`` those) at once for a probe: full-size
    pings to the gateway (the inventory's, else the lease's), then bulk TCP with the LAN
    peer (``size`` bytes each way, else the inventory's). ``known``: the agents' nodes just
    read (:func:`leased`). :func:`answers` reads what they answer."""
    lan = ctx.target.lan
    found = {g: p for g, p in (known or agents(ctx)).items()
             if p.nodes.get("agent") and "p" not in p.state and (only is None or g in only)}
    seq = int(time.time() * 1000) % 1_000_000_000
    asked = Asked(seq, found, time.monotonic(), tcp)
    args: list[str] = []
    for guest, p in found.items():
        gateway = lan.gateway or p.lease.get("router") or p.lease.get("server", "")
        req = f"seq={seq} count={count} name={guest}"
        if gateway:
            req += f" ping={gateway}"
        if lan.peer and tcp:
            req += f" peer={lan.peer[0]}:{lan.peer[1]} bytes={size or lan.bytes}"
        args += [str(p.domid), req]
    if args:
        _run_ask(ctx, "0", seq, args)
    return asked


def answers(ctx: Context, asked: Asked, peer: Peer | None) -> dict[str, Probe]:
    """Wait (at most :data:`PROBE_TIMEOUT` from the asking) for every guest's answer to
    ``asked``, and what the LAN peer saw of each one's bulk TCP."""
    if not asked.guests:
        return {}
    left = max(1, round(PROBE_TIMEOUT - (time.monotonic() - asked.at)))
    out = _run_ask(ctx, str(left), asked.seq,
                   [a for p in asked.guests.values() for a in (str(p.domid), "")])
    took = time.monotonic() - asked.at
    probes: dict[str, Probe] = {}
    lan = ctx.target.lan
    for guest, p in asked.guests.items():
        probes[guest] = Probe(guest, p.domid, agent_nodes(out, p.domid), None, took,
                              asked.seq, p.state)
        if peer and lan.peer and asked.tcp and probes[guest].result:
            probes[guest].session = peer.session(guest, asked.seq, timeout=5)
    for p in probes.values():
        p.group = probes
    return probes


def _run_ask(ctx: Context, seconds: str, seq: int, args: list[str]) -> str:
    r = ctx.dom0.runner.run("sh", "-c", _ASK, "sh", seconds, str(seq), *args,
                            timeout=PROBE_TIMEOUT + 30)
    if not r.ok:
        raise HarnessError(f"asking the guests for a LAN probe failed: {r.describe()}")
    return r.stdout


def probe(ctx: Context, peer: Peer | None, only: Collection[str] | None = None,
          tcp: bool = True, count: int = PINGS,
          known: dict[str, Probe] | None = None) -> dict[str, Probe]:
    """:func:`ask`, then :func:`answers`."""
    return answers(ctx, ask(ctx, only, tcp, count, known), peer)


# -- the checkpoints ----------------------------------------------------------------------

def _where(ctx: Context, p: Probe) -> str:
    return f"xenstore /local/domain/{p.domid}/{LAN_KEY} ({p.guest}'s agent)"


def leased(ctx: Context, timeout: float) -> dict[str, Probe]:
    """Every guest's agent nodes once all hold a LAN address, or as they are after
    ``timeout`` (a guest just started is given time to get its lease)."""
    def all_leased() -> dict[str, Probe] | None:
        now = agents(ctx)
        return now if all(p.lease.get("address") for p in now.values()) else None
    try:
        return ctx.until(all_leased, timeout=timeout, interval=1.0,
                         what="every guest's LAN address")
    except WaitTimeout:
        return agents(ctx)


def lease_taken(ctx: Context, p: Probe, timeout: float) -> None:
    """The guest holds a LAN address: from the LAN's DHCP server (its lease names the
    server and the gateway), or the static one the inventory gives."""
    lan = ctx.target.lan
    if not p.nodes.get("agent"):
        raise CheckFailed(_where(ctx, p), "the suite's guest agent",
                          "none: the guest does not run the suite's payload with the LAN")
    p.running()
    if p.lease.get("address"):
        return
    want = (f"the static address {lan.addresses.get(p.guest)}" if lan.addresses else
            "a lease from the LAN's DHCP server, through the driver domain")
    raise CheckFailed(_where(ctx, p), want,
                      f"no address after {timeout:.0f} s (its client's last event: "
                      f"{p.lease.get('event') or 'none'})" + explain(ctx, p.guest))


def reaches_gateway(ctx: Context, p: Probe) -> None:
    """Full-size frames (the guest's MTU, DF set) to the gateway and back: every one of
    :data:`PINGS` answered."""
    p.running()
    r = p.result
    if not r:
        raise CheckFailed(_where(ctx, p), "an answer to the suite's LAN probe",
                          f"none within {PROBE_TIMEOUT} s" + _explained(ctx, p))
    if "ping" not in r:
        raise CheckFailed(_where(ctx, p), "a LAN host to ping (lan.gateway, else the "
                          "lease's router, else its DHCP server)", f"none: {p.lease}")
    sent, got = int(r.get("sent") or 0), int(r.get("received") or 0)
    if sent == 0 or got < sent:
        small = f"{r.get('small_received', '0')} of {r.get('small_sent', '0')} small (56 bytes)"
        raise CheckFailed(
            f"ping -M do -s {r.get('size')} {r.get('ping')} from {p.guest} "
            f"({r.get('address')}, MTU {r.get('mtu')})",
            f"all {PINGS} full-size pings answered",
            (f"{got} of {sent} answered" if sent <= PINGS else
             f"{got} answered ({sent} sent: ping goes on to its 3 s deadline)")
            + f", and {small}" + _explained(ctx, p, int(r["mtu"])))


def throughput(p: Probe) -> dict[str, float]:
    """MB/s guest to LAN (as the peer timed it) and LAN to guest (as the guest timed it)."""
    s = p.session
    if s is None or not s.intact:
        return {}
    return {"guest_to_lan_MBps": round(s.bytes / max(s.up_seconds, 1e-6) / 1e6, 2),
            "lan_to_guest_MBps": round(s.bytes / max(s.down_seconds, 1e-6) / 1e6, 2)}


def bulk_intact(ctx: Context, p: Probe) -> None:
    """Bulk TCP both ways with the LAN peer: every byte arrived, checksums equal at both
    ends (what the guest sent is what the peer got, and the other way)."""
    p.running()
    r, s = p.result, p.session
    where = f"bulk TCP between {p.guest} and the LAN peer {r.get('peer') or ''}".rstrip()
    want = f"{ctx.target.lan.bytes} bytes each way, sha256 equal at both ends"
    if not r:
        raise CheckFailed(where, want, f"no answer to the probe within {PROBE_TIMEOUT} s"
                          + _explained(ctx, p))
    if r.get("tcp") == "skipped":
        raise CheckFailed(where, want, f"not tried: {r.get('received')} of {r.get('sent')} "
                          f"full-size pings to {r.get('ping')} answered, so bulk TCP could "
                          "only stall" + _explained(ctx, p, int(r.get("mtu") or 1500)))
    if r.get("tcp") != "done" or s is None:
        raise CheckFailed(where, want, f"the guest: tcp={r.get('tcp', 'not tried')}; the peer: "
                          + ("no connection from it" if s is None else s.error or "?")
                          + _explained(ctx, p))
    if not s.intact:
        raise CheckFailed(where, want, "guest to LAN: "
                          f"{s.up_received} bytes arrived, sha256 "
                          f"{'equal' if s.up_sum == s.up_sum_claimed else 'DIFFERENT'}; "
                          f"LAN to guest: {s.down_received} bytes arrived, sha256 "
                          f"{'equal' if s.down_sum == s.down_sum_guest else 'DIFFERENT'}"
                          + (f" ({s.error})" if s.error else ""))


def _explained(ctx: Context, p: Probe, mtu: int | None = None) -> str:
    """:func:`explain` for the guest of ``p``, read once for all the scenarios that fail
    on the same probe, and at once for every guest asked with it (one read of the path
    before and after, one probe of pings only, for them all: a guest that failed too
    finds its explanation there)."""
    if p.explained is None:
        group = {g: q for g, q in (p.group or {p.guest: p}).items() if q.explained is None}
        found = explain_many(ctx, {g: mtu if q is p else _mtu(q) for g, q in group.items()})
        for g, q in group.items():
            q.explained = found[g]
    return p.explained or ""


def _mtu(p: Probe) -> int | None:
    m = p.result.get("mtu", "")
    return int(m) if m.isdigit() else None


def explain(ctx: Context, guest: str, mtu: int | None = None) -> str:
    """:func:`explain_many` for one guest."""
    return explain_many(ctx, {guest: mtu})[guest]


def explain_many(ctx: Context, guests: dict[str, int | None]) -> dict[str, str]:
    """What the path shows, hop by hop, when guests' LAN traffic fails (``guests``: their
    MTUs, when known): the settings that stop each one's frames
    (:func:`~xenaccept.checks.lanpath.causes`) and, around one more probe of pings only,
    where the counters say its frames stopped. Best effort: a read that fails is said,
    never raised over the checkpoint's own failure."""
    t = ctx.target
    out: dict[str, str] = {}
    vifs: dict[str, tuple[str, str]] = {}
    for guest in guests:
        try:
            vifs[guest] = served_vif(ctx, guest)
        except (HarnessError, CheckFailed) as e:
            out[guest] = f"\n(the path could not be read: {e})"
    if not vifs:
        return out
    try:
        before = netpath.read(ctx.drvdom.runner, t.bridge)
        again = probe(ctx, None, only=set(vifs), tcp=False, count=10)
        after = netpath.read(ctx.drvdom.runner, t.bridge)
    except (HarnessError, CheckFailed) as e:
        return out | dict.fromkeys(vifs, f"\n(the path could not be read: {e})")
    for guest, (vif, mac) in vifs.items():
        found = lanpath.causes(before, bridge=t.bridge, nic=t.driver_domain.nic, vif=vif,
                               mac=mac, guest_mtu=guests[guest] or 1500, guest=guest)
        path = lanpath.where(before, after, nic=t.driver_domain.nic, vif=vif, guest=guest)
        lines = [f"cause: {c}" for c in found] or [
            f"no setting on the driver domain's path ({vif}, {t.bridge}, "
            f"{t.driver_domain.nic}: MTUs, port states and flags, VLANs, queues, fdb, packet "
            "filters) explains it"]
        r = again[guest].result if guest in again else {}
        lines.append(f"a probe of pings only: {r.get('received', 0)} of {r.get('sent', 0)} "
                     f"full-size and {r.get('small_received', 0)} of "
                     f"{r.get('small_sent', 0)} small answered; {path}" if r else
                     f"a probe of pings only went unanswered; {path}")
        if before.unread:
            lines.append("not read: " + ", ".join(f"{k} ({v})"
                                                  for k, v in before.unread.items()))
        out[guest] = "\n" + "\n".join(lines)
    return out


def back_on_the_lan(ctx: Context, timeout: float) -> None:
    """After the driver domain came back: every guest answers a probe of pings only with
    every full-size ping answered (it took its address again on its re-plugged NIC), within
    ``timeout``; else the last probe's failure, explained."""
    last: dict[str, Probe] = {}

    def all_answered() -> bool:
        nonlocal last
        last = probe(ctx, None, tcp=False)
        return len(last) == len(ctx.target.guests.names) and all(
            int(p.result.get("received") or 0) == PINGS for p in last.values())
    try:
        ctx.until(all_answered, timeout=timeout, interval=2.0,
                  what="every guest on the LAN again (full-size pings all answered)")
        return
    except WaitTimeout:
        pass
    for guest in ctx.target.guests.names:
        p = last.get(guest) or agents(ctx)[guest]
        lease_taken(ctx, p, timeout)
        reaches_gateway(ctx, p)
