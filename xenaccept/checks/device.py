"""2. The device hidden from Dom0: how, bound to pciback, offered by xl."""

from __future__ import annotations

from xenaccept.checks.context import Context
from xenaccept.errors import CheckFailed
from xenaccept.resources import pci
from xenaccept.resources.kernel import hidden_bdfs
from xenaccept.resources.xenstore import assignable_node


def hidden_how(setup: Context) -> str:
    """'boot' when xen-pciback.hide names the device, 'xl' when pci-assignable-add did."""
    bdf = setup.bdf
    if bdf in hidden_bdfs(setup.dom0.kernel.cmdline):
        return "boot"
    if setup.dom0.xl.assignable_record(bdf) is not None:
        return "xl"
    raise CheckFailed(f"device {bdf}",
                      "xen-pciback.hide=(...) naming it on /proc/cmdline, or an "
                      f"xl pci-assignable-add record in xenstore ({assignable_node(bdf)})",
                      "neither")


def bound_to_pciback(setup: Context) -> None:
    driver = setup.dom0.pci(setup.bdf).driver
    if driver != "pciback":
        raise CheckFailed(f"/sys/bus/pci/devices/{setup.bdf}/driver", "pciback",
                          driver or "no driver bound")


def in_pciback_slots(setup: Context) -> None:
    slots = pci.pciback_slots(setup.dom0.runner)
    if setup.bdf not in slots:
        raise CheckFailed("/sys/bus/pci/drivers/pciback/slots", f"{setup.bdf} listed",
                          ", ".join(slots) or "empty")


def no_native_driver(setup: Context) -> None:
    dev = setup.dom0.pci(setup.bdf).lspci()
    if dev is None:
        raise CheckFailed("lspci in Dom0", f"device {setup.bdf}", "no such device")
    native = setup.target.device.native_driver
    if dev.driver not in (None, "pciback"):
        raise CheckFailed(f"device {setup.bdf} in Dom0", "no native driver",
                          f"{dev.driver} bound")
    ifaces = pci.net_interfaces(setup.dom0.runner, setup.bdf)
    if ifaces:
        raise CheckFailed(f"device {setup.bdf} in Dom0", "no network interface",
                          f"{', '.join(ifaces)} (held by {native}?)")


def offered_for_passthrough(setup: Context) -> str:
    bdf, dd = setup.bdf, setup.target.driver_domain.name
    assignable = setup.dom0.xl.assignable()
    if bdf in assignable:
        return "assignable"
    if bdf in setup.dom0.xl.pci_list(dd):
        return f"attached to {dd}"
    raise CheckFailed(f"device {bdf}",
                      f"listed by xl pci-assignable-list, or by xl pci-list {dd}",
                      f"assignable: {', '.join(assignable) or 'none'}; not attached to {dd}")
