"""Probes: a change that proves what reading cannot, taken back at once (a test vif plugged
into a guest, served by the driver domain). Provision mode only."""

from __future__ import annotations

from xenaccept.errors import HarnessError
from xenaccept.provision.context import StageContext
from xenaccept.transport import wait


def plug_probe(s: StageContext, timeout: float = 90.0) -> tuple[str, int, str]:
    """Plug a test vif, served by the driver domain, into the first guest, and wait
    (at most ``timeout``) until it settles: the backend Connected with a
    hotplug-status, or closed. Returns ``(guest, devid, vif<domid>.<devid>)``. It is
    unplugged by :meth:`unplug_probe`, or by the restore after a failure or Ctrl-C.
    Provision mode only."""
    if not s.provision:
        raise HarnessError("plugging a test vif changes the host: --provision only")
    t = s.target
    guest, dd = t.guests.names[0], t.driver_domain.name
    mac = t.guests.mac(len(t.guests.names))   # next to the guests', used by none
    before = {v.devid for v in s.dom0.xl.network_list(guest)}
    s.dom0.xl.network_attach(guest, mac=mac, bridge=t.bridge, backend=dd)
    s.journal.push(_probe_undo(guest, mac), lambda: _unplug(s, guest, mac))
    new = [v for v in s.dom0.xl.network_list(guest) if v.devid not in before]
    if not new:
        raise HarnessError(f"xl network-attach {guest} made no vif (xl network-list)")
    dom, backend = s.dom0.xl.domain(guest), s.dom0.xl.domain(dd)
    if dom is None or backend is None:
        raise HarnessError(f"{guest} or {dd} gone during the probe")
    devid = new[0].devid

    def settled() -> bool:
        be = s.dom0.xl.backends(backend.domid).get((dom.domid, devid))
        return be is not None and (be.state in (5, 6) or (
            be.state == 4 and "hotplug-status" in be.nodes))
    try:
        s.until(settled, timeout=timeout, what=f"the test vif of {guest} to settle")
    except wait.WaitTimeout:
        pass  # the Then step reads and names the state it stayed in
    return guest, devid, f"vif{dom.domid}.{devid}"


def unplug_probe(s: StageContext, guest: str, devid: int) -> None:
    """Unplug the test vif (``xl network-detach``) and forget its undo."""
    mac = s.target.guests.mac(len(s.target.guests.names))
    s.dom0.xl.network_detach(guest, devid)
    s.journal.done(_probe_undo(guest, mac))


def _probe_undo(guest: str, mac: str) -> str:
    return f"unplug the test vif {mac} of {guest}"


def _unplug(s: StageContext, guest: str, mac: str) -> None:
    for vif in s.dom0.xl.network_list(guest):
        if vif.mac == mac:
            s.dom0.xl.network_detach(guest, vif.devid)
