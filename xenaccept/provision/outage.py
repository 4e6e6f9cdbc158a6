"""Isolation probes (provision mode only): the driver domain killed while its guests move
data, or crashed by its own kernel, then brought back (:func:`.lifecycle.restart_driver_domain`);
and a guest started while ``xl devd`` is down, whose vif must be plugged once the daemon
runs. Each returns what it saw, for the checks that follow."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from xenaccept.errors import HarnessError
from xenaccept.names import DEVD_UNIT_PERSISTENT, DEVD_UNIT_RUNTIME
from xenaccept.provision.context import StageContext
from xenaccept.provision.lifecycle import restart_driver_domain
from xenaccept.provision.stages import backend_daemon, create, until_forwarding


@dataclass
class Outage:
    """The driver domain that died (its domid), and each guest's domid before it."""
    dead_domid: int
    guests: dict[str, int]
    seconds: float = 0.0
    moving: list[str] = field(default_factory=list)   # guests whose data was under way
    seq: int | None = None     # the LAN peer's number for that data, when some moved


def _before(s: StageContext, how: str) -> Outage:
    t = s.target
    ids = {d.name: d.domid for d in s.dom0.xl.domains()}   # one xl list
    dd = t.driver_domain.name
    if dd not in ids:
        raise HarnessError(f"{dd} does not run: nothing to {how}")
    if missing := [g for g in t.guests.names if g not in ids]:
        raise HarnessError(f"{', '.join(missing)} not running: nothing to {how} under")
    return Outage(ids[dd], {g: ids[g] for g in t.guests.names})


def killed(s: StageContext,
           moving: Callable[[], tuple[list[str], int | None]] | None = None) -> Outage:
    """``xl destroy`` of the driver domain, no shutdown: the domain is gone at once, its
    backends with it. ``moving`` (called first) starts the guests' data and says which
    guests' data is under way, and the LAN peer's number for it."""
    out = _before(s, "kill")
    if moving is not None:
        out.moving, out.seq = moving()
    out.seconds = restart_driver_domain(s)
    return out


def crashed(s: StageContext) -> Outage:
    """A kernel crash in the driver domain (``xl sysrq D c``: the kernel panics, Xen marks
    the domain crashed, and its ``on_crash`` action, destroy by default, ends it). The
    kernel obeys a sysrq sent by Dom0 only as its ``kernel.sysrq`` allows (Debian's 438
    leaves the crash key out: "This sysrq operation is disabled"), so it is allowed first
    in the running kernel; that setting dies with it."""
    out = _before(s, "crash")
    dd = s.target.driver_domain.name

    def crash() -> None:
        s.drvdom.runner.run("sysctl", "-q", "-w", "kernel.sysrq=1", mutates=True, check=True)
        s.dom0.runner.run("xl", "sysrq", dd, "c", mutates=True, check=True, timeout=60)
        s.until(lambda: _crashed_or_gone(s, dd, out.dead_domid), timeout=60,
                what=f"{dd}'s kernel to crash (xl sysrq c)")
    out.seconds = restart_driver_domain(s, kill=crash)
    return out


def _crashed_or_gone(s: StageContext, name: str, domid: int) -> bool:
    dom = s.dom0.xl.domain(name)
    return dom is None or dom.domid != domid or "c" in dom.state


@dataclass
class LateDaemon:
    guest: str
    vif: str
    on_bridge_without_devd: bool   # the vif was a bridge port before xl devd ran again
    seconds: float                 # from xl devd's start to the vif forwarding


def guest_started_while_devd_down(s: StageContext, guest: str) -> LateDaemon:
    """Stop ``xl devd`` in the driver domain, start ``guest`` again meanwhile (nothing
    runs its vif's hotplug script), then start the daemon: it must find the waiting vif
    and plug it. The daemon is started as provisioning starts it (the driver domain's own
    unit when permanent)."""
    t = s.target
    if guest not in s.started:
        raise HarnessError(f"{guest} was not started by this run: not restarting it")
    unit = DEVD_UNIT_PERSISTENT if s.persisted else DEVD_UNIT_RUNTIME
    hp = s.drvdom.hotplug
    s.drvdom.runner.run("systemctl", "stop", unit, mutates=True, check=True, timeout=60)
    s.until(lambda: not hp.devd_pids(), timeout=30, what=f"xl devd gone ({unit} stopped)")
    s.destroy(guest)
    s.started.remove(guest)
    create(s, guest, t.config_path(guest))
    vif = s.vif_name(guest) or "?"
    br = s.drvdom.bridge(t.bridge)
    s.until(lambda: s.drvdom.runner.run("test", "-e", f"/sys/class/net/{vif}").ok,
            timeout=60, what=f"{vif} made by netback (xl devd down)")
    early = br.port(vif) is not None
    start = time.monotonic()
    if s.persisted:
        s.drvdom.runner.run("systemctl", "start", unit, mutates=True, check=True, timeout=60)
        s.until(hp.devd_pids, timeout=30, what=f"xl devd to run again ({unit})")
    else:
        backend_daemon(s)
    until_forwarding(s, br, vif, timeout=120,
                     what=f"{vif} of {guest}, started while xl devd was down, on {br.name}")
    return LateDaemon(guest, vif, early, time.monotonic() - start)
