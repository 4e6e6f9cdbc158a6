"""6-8. The guests: their vifs served by the driver domain and connected, their frames
reaching the bridge, their answers coming back; Dom0 fine while the driver domain restarts."""

from __future__ import annotations

from collections.abc import Callable

from xenaccept.images.guest_payload import guest_link_local
from xenaccept.checks.context import Context
from xenaccept.errors import CheckFailed
from xenaccept.resources.bridge import Bridge
from xenaccept.resources.xenstore import CONNECTED, Backend, xenbus_state
from xenaccept.resources.xl import state_words
from xenaccept.transport import wait

FRESH = 5               # seconds: a guest's MAC counts as learned when a frame refreshed it
                        # this recently (the suite's guests send one a second)


def vif_ids(vif: str) -> tuple[int, int]:
    """``vif<domid>.<devid>`` -> (domid, devid)."""
    domid, _, devid = vif.removeprefix("vif").partition(".")
    return int(domid), int(devid)


def served_vif(setup: Context, guest: str) -> tuple[str, str]:
    """``(vif<domid>.<devid>, MAC)`` of the guest's vif that the driver domain serves."""
    dd = setup.dom0.xl.domain(setup.target.driver_domain.name)
    dom = setup.dom0.xl.domain(guest)
    if dom is None or dd is None:
        raise CheckFailed("xl list", f"{guest} and the driver domain running",
                          f"{guest}: {'running' if dom else 'absent'}, "
                          f"driver domain: {'running' if dd else 'absent'}")
    vifs = setup.dom0.xl.network_list(guest)
    served = [v for v in vifs if v.backend_domid == dd.domid]
    if not served:
        raise CheckFailed(f"xl network-list {guest}", f"a vif with backend domid {dd.domid}",
                          ", ".join(f"vif {v.devid} on domid {v.backend_domid}" for v in vifs)
                          or "no vif")
    return f"vif{dom.domid}.{served[0].devid}", served[0].mac


def guest_vif(setup: Context, guest: str) -> str:
    return served_vif(setup, guest)[0]


def vif_connected(setup: Context, guest: str) -> None:
    """The guest's vif backend in the driver domain is Connected in xenstore and its
    hotplug script reported success (hotplug-status connected); Dom0 reads both. A vif
    enslaved and forwarding can still have a backend that never connected, or one that
    closed when its frontend went away."""
    backend_connected(setup, guest, served_vif(setup, guest)[0])


def backend_connected(setup: Context, guest: str, vif: str) -> None:
    """The backend of ``vif`` (vif<domid>.<devid>) Connected, hotplug-status connected."""
    domid, devid = vif_ids(vif)
    dd = setup.dom0.xl.domain(setup.target.driver_domain.name)
    if dd is None:
        raise CheckFailed("xl list", "the driver domain running", "no such domain")
    be: Backend | None = setup.dom0.xl.backends(dd.domid).get((domid, devid))
    where = f"xenstore /local/domain/{dd.domid}/backend/vif/{domid}/{devid}"
    if be is None:
        raise CheckFailed(where, f"the backend of {guest}'s {vif}", "absent")
    status = be.nodes.get("hotplug-status", "")
    if be.state != CONNECTED or status != "connected":
        raise CheckFailed(f"{where} ({guest}'s {vif})",
                          f"state {xenbus_state(CONNECTED)} and hotplug-status connected",
                          f"state {xenbus_state(be.state)} (its frontend: "
                          f"{xenbus_state(setup.dom0.xl.frontend_state(be))}), "
                          f"hotplug-status {status or 'absent'}")


def unplugged(setup: Context, guest: str, vif: str, timeout: float = 60.0) -> None:
    """After ``xl network-detach``: the vif's interface leaves the bridge and its backend
    leaves xenstore (hotplug's offline ran), within ``timeout``."""
    domid, devid = vif_ids(vif)
    br = setup.drvdom.bridge(setup.target.bridge)
    dd = setup.dom0.xl.domain(setup.target.driver_domain.name)

    def gone() -> bool:
        return vif not in br.ports() and (dd is None or (domid, devid) not in
                                          setup.dom0.xl.backends(dd.domid))
    try:
        setup.until(gone, timeout=timeout, what=f"{vif} of {guest} unplugged")
    except wait.WaitTimeout:
        raise CheckFailed(f"{vif} of {guest} after xl network-detach",
                          f"gone from {br.name} and from xenstore within {timeout:g} s",
                          f"ports of {br.name}: {', '.join(br.ports()) or 'none'}") from None


def _learned_on(setup: Context, br: Bridge, guest: str, vif: str, mac: str) -> str:
    """``mac`` learned on ``vif`` from a frame at most :data:`FRESH` seconds old. An entry
    can outlive the traffic that made it by minutes (the bridge ages entries out after
    300 s): a stale one is named with its age, and with what keeps the guest's frames
    from arriving when the suite can tell."""
    entries = br.learned_entries(mac)
    mine = [e for e in entries if e.ifname == vif]
    if mine and (mine[0].updated is None or mine[0].updated <= FRESH):
        return vif
    if mine:
        found = f"learned on {vif}, but no frame from it for {mine[0].updated} s"
    elif entries:
        found = f"learned on {', '.join(e.ifname for e in entries)}"
    else:
        found = "not learned"
    why = _why_silent(setup, br, guest, vif)
    raise CheckFailed(f"`bridge -s fdb` of {br.name}",
                      f"{guest}'s MAC {mac} learned on {vif} from a frame of the last "
                      f"{FRESH} s", found + (f" ({why})" if why else ""))


def _why_silent(setup: Context, br: Bridge, guest: str, vif: str) -> str:
    """What Dom0 and the bridge show that keeps a guest's frames away ('' when nothing)."""
    said = []
    dom = setup.dom0.xl.domain(guest)
    if dom is not None and any(c in dom.state for c in "pscd"):
        said.append(f"{guest} is {state_words(dom.state)}")
    port = br.port(vif)
    if port is None or port.master != br.name:
        said.append(f"{vif} is not a port of {br.name}"
                    + (f" but of {port.master}" if port and port.master else ""))
    elif port.trouble():
        said.append(f"port {vif}: {port.trouble()}")
    return "; ".join(said)


def mac_learned(setup: Context, guest: str) -> str:
    return _learned_on(setup, setup.drvdom.bridge(setup.target.bridge), guest,
                       *served_vif(setup, guest))


def mac_learned_within(setup: Context, guest: str, timeout: float) -> str:
    """:func:`mac_learned`, polled: a guest is given ``timeout`` seconds to send a frame.
    A guest found silent (a quiet guest of the operator's sends nothing for minutes) is
    asked for one, once: the driver domain pings it, as :func:`guest_answers_ping` does,
    and the frame of its answer must refresh the entry on its vif. A paused guest, a port
    that does not forward or does not learn still fail. The vif and MAC are read once; each
    poll reads only the bridge's fdb."""
    last: list[CheckFailed] = []
    asked: list[bool] = []      # the one ping's outcome, once sent
    vif, mac = served_vif(setup, guest)
    br = setup.drvdom.bridge(setup.target.bridge)

    def probe() -> str | None:
        try:
            return _learned_on(setup, br, guest, vif, mac)
        except CheckFailed as e:
            last[:] = [e]
            if not asked:
                asked.append(br.pings(guest_link_local(mac)))
            return None

    try:
        return setup.until(probe, timeout=timeout, what=f"{guest}'s MAC learned by the bridge")
    except wait.WaitTimeout:
        if last:
            e = last[0]
            ping = (f"; the driver domain's ping asking {guest} for a frame "
                    f"{'was answered' if asked[0] else 'got no reply'}") if asked else ""
            raise CheckFailed(e.what, e.expected + f", within {timeout:g} s",
                              e.found + ping) from None
        raise


def every_guest(setup: Context, check: Callable[[str], object],
                expected: str | None = None) -> None:
    """``check`` every guest, each one even when another failed: one failure is raised as
    it is, several as one naming each guest (a guest's fault never hides another's)."""
    failed: list[tuple[str, CheckFailed]] = []
    for guest in setup.target.guests.names:
        try:
            check(guest)
        except CheckFailed as e:
            failed.append((guest, e))
    if len(failed) == 1:
        raise failed[0][1]
    if failed:
        raise CheckFailed(", ".join(g for g, _ in failed), expected or failed[0][1].expected,
                          "\n".join(f"[{g}] {e}" for g, e in failed))


def dom0_toolstack_works(setup: Context) -> None:
    """Dom0 answers, xl answers, and Dom0 itself is running."""
    domains = {d.name: d for d in setup.dom0.xl.domains()}
    if "Domain-0" not in domains:
        raise CheckFailed("xl list in Dom0", "Domain-0 listed", ", ".join(domains) or "nothing")
    if not setup.dom0.xl.info().get("xen_version"):
        raise CheckFailed("xl info in Dom0", "a xen_version", "none")


def guest_answers_ping(setup: Context, guest: str) -> None:
    """The driver domain pings the guest across the bridge, at the IPv6 link-local address
    the guest's kernel derives from its MAC (EUI-64): replies prove traffic both ways
    without any address on the LAN."""
    vif, mac = served_vif(setup, guest)
    br = setup.drvdom.bridge(setup.target.bridge)
    addr = guest_link_local(mac)
    if not br.pings(addr):
        said = [_why_silent(setup, br, guest, vif)]
        if not any(a.startswith("fe80:") for a in br.addresses()):
            said.append(f"{br.name} has no IPv6 link-local address (IPv6 disabled on it?): "
                        "it can send no ICMPv6 on its link")
        raise CheckFailed(f"ping -6 {addr}%{br.name} from the driver domain",
                          f"{guest} ({mac}, on {vif}) to answer",
                          "no reply in 6 s" + "".join(f"; {x}" for x in said if x))
