"""8. After the driver domain died (killed or crashed) and came back: nothing of the dead
domain is left in xenstore, and the guests ran on through it as the same domains."""

from __future__ import annotations

from xenaccept.checks.context import Context
from xenaccept.errors import CheckFailed
from xenaccept.resources.xenstore import CONNECTED, parse_tree, xenbus_state

# $1 the dead domain's id, then the guests' ids: whether the dead domain's directory is
# still there, then every guest's vif frontends
_READ = r"""d=$1; shift
xenstore-exists "/local/domain/$d" && echo "dead-domain-left=1"
for g; do xenstore-ls -f "/local/domain/$g/device/vif" 2>/dev/null; done
exit 0"""


def frontends(text: str, domid: int) -> dict[int, dict[str, str]]:
    """``xenstore-ls -f /local/domain/G/device/vif`` -> {devid: {node: value}}."""
    out: dict[int, dict[str, str]] = {}
    for path, value in parse_tree(text, f"/local/domain/{domid}/device/vif").items():
        devid, _, node = path.partition("/")
        if devid.isdigit() and node and "/" not in node:
            out.setdefault(int(devid), {})[node] = value
    return out


def no_stale_backend(ctx: Context, dead_domid: int) -> None:
    """The dead driver domain's directory is gone from xenstore, and every vif of every
    guest has a backend in the driver domain running now, connected."""
    t = ctx.target
    running = {d.name: d.domid for d in ctx.dom0.xl.domains()}
    if (dd := running.get(t.driver_domain.name)) is None:
        raise CheckFailed("xl list", f"{t.driver_domain.name} running", "no such domain")
    ids = {g: running[g] for g in t.guests.names if g in running}
    r = ctx.dom0.runner.run("sh", "-c", _READ, "sh", str(dead_domid),
                            *(str(i) for i in ids.values()))
    stale = []
    if "dead-domain-left=1" in r.stdout:
        stale.append(f"/local/domain/{dead_domid} (the dead driver domain's directory)")
    for guest, domid in ids.items():
        for devid, nodes in sorted(frontends(r.stdout, domid).items()):
            backend = nodes.get("backend-id", "?")
            state = int(nodes["state"]) if nodes.get("state", "").isdigit() else None
            if backend != str(dd) or state != CONNECTED:
                stale.append(f"{guest}'s vif {devid}: backend domid {backend} "
                             f"(the driver domain is {dd} now, the dead one was "
                             f"{dead_domid}), frontend state {xenbus_state(state)}")
    if stale:
        raise CheckFailed("xenstore in Dom0",
                          f"nothing left of the dead driver domain (domid {dead_domid}); every "
                          f"guest's vif on {t.driver_domain.name} (domid {dd}), connected",
                          "; ".join(stale))


def guests_ran_on(ctx: Context, before: dict[str, int]) -> None:
    """Every guest still runs as the domain it was before the driver domain died: same
    domid (not restarted), neither crashed nor paused."""
    found = []
    running = {d.name: d for d in ctx.dom0.xl.domains()}
    for guest, domid in before.items():
        dom = running.get(guest)
        if dom is None:
            found.append(f"{guest}: gone")
        elif dom.domid != domid:
            found.append(f"{guest}: domid {dom.domid}, was {domid} (restarted)")
        elif "c" in dom.state or "p" in dom.state:
            found.append(f"{guest}: state {dom.state}")
    if found:
        raise CheckFailed("xl list in Dom0", "every guest running on as the same domain, as "
                          f"before the driver domain died ({before})", "; ".join(found))
