"""5. The bridge, and its ports: exact membership, and why a port forwards nothing."""

from __future__ import annotations

from xenaccept.checks.context import Context
from xenaccept.errors import CheckFailed
from xenaccept.model import validate


def bridge_up(setup: Context) -> None:
    br = setup.drvdom.bridge(setup.target.bridge)
    if not br.exists:
        raise CheckFailed(f"bridge {br.name}", "present in the driver domain", "absent")
    if not br.is_up:
        raise CheckFailed(f"bridge {br.name}", "operstate up", br.operstate)


def enslaved(setup: Context, iface: str) -> None:
    """``iface`` is a port of the bridge (sysfs brif, exact names); if not, the message says
    where it is: a port of another bridge, of none, or no interface at all."""
    br = setup.drvdom.bridge(setup.target.bridge)
    ports = br.ports()
    if iface not in ports:
        port = br.port(iface)
        if port is not None and port.master:
            where = f"{iface} is a port of {port.master}, not of {br.name}"
        elif setup.drvdom.runner.run("test", "-e", f"/sys/class/net/{validate.ifname(iface)}",
                                     once=True).ok:
            where = f"{iface} is no bridge's port"
        else:
            where = f"no interface {iface} in the driver domain"
        raise CheckFailed(f"ports of {br.name} (sysfs brif)", iface,
                          f"{where} (ports of {br.name}: {', '.join(ports) or 'none'})")


def forwarding(setup: Context, iface: str) -> None:
    """The port forwards: administratively up, with carrier, in STP state forwarding; the
    message names each of these that fails."""
    br = setup.drvdom.bridge(setup.target.bridge)
    port = br.port(iface)
    if port is None or port.master != br.name:
        raise CheckFailed(f"`bridge -j -d link` port {iface} of {br.name}",
                          "state forwarding", "not a port of it")
    trouble = port.trouble(learning=False)
    if trouble:
        raise CheckFailed(f"`bridge -j -d link` port {iface} of {br.name}",
                          "up, with carrier, forwarding", trouble)
