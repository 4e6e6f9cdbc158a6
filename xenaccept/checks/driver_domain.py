"""3. The driver domain: its config and boot files, the device passed through and
connected, its kernel, the device driven natively inside it."""

from __future__ import annotations

from xenaccept.checks.context import Context
from xenaccept.errors import CheckFailed
from xenaccept.model import validate
from xenaccept.resources import pci
from xenaccept.resources.xenstore import CONNECTED, xenbus_state
from xenaccept.resources.xl import boot_files, parse_config


def driver_domain_config(setup: Context) -> dict[str, object]:
    path = setup.target.config_path(setup.target.driver_domain.name)
    text = setup.dom0.read(path, once=True)
    if text is None:
        raise CheckFailed("driver domain config", f"{path} in Dom0", "no such file")
    return parse_config(text)


def config_passes_device(setup: Context) -> None:
    conf = driver_domain_config(setup)
    listed = conf.get("pci", [])
    bdfs = [validate.bdf(x.split(",")[0].split("@")[0], "pci")
            for x in listed] if isinstance(listed, list) else []
    if setup.bdf not in bdfs:
        raise CheckFailed("driver domain config", f"pci = [ '{setup.bdf}' ]",
                          f"pci = {listed!r}" if listed else "no pci setting")


def config_boot_files(setup: Context) -> None:
    """The kernel, ramdisk and disks the driver domain's config names exist in Dom0: the
    domain runs now, but would not start again without them (after an upgrade removed an
    old kernel, say)."""
    missing = setup.dom0.missing(*boot_files(driver_domain_config(setup)))
    if missing:
        raise CheckFailed("the files the driver domain's config boots from",
                          "all present in Dom0", "missing: " + ", ".join(missing))


def pci_backend_connected(setup: Context) -> None:
    """Dom0's PCI backend for the driver domain, and the driver domain's pcifront, are
    Connected in xenstore (pcifront attached the device on its virtual bus)."""
    dd = setup.dom0.xl.domain(setup.target.driver_domain.name)
    if dd is None:
        raise CheckFailed("xl list", "the driver domain running", "no such domain")
    backends = setup.dom0.xl.backends(0, "pci")
    be = next((b for b in backends.values() if b.frontend_domid == dd.domid), None)
    if be is None:
        raise CheckFailed(f"xenstore /local/domain/0/backend/pci/{dd.domid}",
                          "Dom0's PCI backend for the driver domain", "none")
    if be.state != CONNECTED:
        raise CheckFailed(f"Dom0's PCI backend of {setup.target.driver_domain.name}",
                          f"state {xenbus_state(CONNECTED)}",
                          f"state {xenbus_state(be.state)}, its pcifront "
                          f"{xenbus_state(setup.dom0.xl.frontend_state(be))}")


def config_is_driver_domain(setup: Context) -> None:
    value = driver_domain_config(setup).get("driver_domain")
    if value not in (1, "1"):
        raise CheckFailed("driver domain config", "driver_domain = 1",
                          f"driver_domain = {value}" if value is not None else "not set")


def device_attached(setup: Context) -> None:
    dd = setup.target.driver_domain.name
    if setup.dom0.xl.domain(dd) is None:
        raise CheckFailed("xl list", f"domain {dd} running", "no such domain")
    attached = setup.dom0.xl.pci_list(dd)
    if setup.bdf not in attached:
        raise CheckFailed(f"xl pci-list {dd}", setup.bdf, ", ".join(attached) or "no device")


def same_kernel(setup: Context) -> str:
    a, b = setup.dom0.kernel.release, setup.drvdom.kernel.release
    if a != b:
        raise CheckFailed("uname -r", f"the driver domain on Dom0's kernel {a}", b)
    return a


def device_in_driver_domain(setup: Context) -> pci.LspciDevice:
    vd = setup.dom0.pci(setup.bdf).vendor_device
    found = pci.find_by_id(setup.drvdom.runner, vd)
    if len(found) != 1:
        seen = ", ".join(f"{d.slot} [{d.vendor_device}]" for d in pci.lspci(setup.drvdom.runner))
        raise CheckFailed("lspci in the driver domain", f"one device [{vd}]",
                          (seen or "no device") + "; " + _pcifront_said(setup))
    return found[0]


def _pcifront_said(setup: Context) -> str:
    """Where the device got lost between Dom0 and the driver domain, for a message."""
    dd = setup.dom0.xl.domain(setup.target.driver_domain.name)
    attached = setup.dom0.xl.pci_list(setup.target.driver_domain.name)
    be = next((b for b in setup.dom0.xl.backends(0, "pci").values()
               if dd is not None and b.frontend_domid == dd.domid), None)
    return (f"xl pci-list: {', '.join(attached) or 'nothing attached'}; Dom0's PCI backend "
            + (f"state {xenbus_state(be.state)}" if be else "absent"))


def native_driver_bound(setup: Context) -> None:
    dev = device_in_driver_domain(setup)
    want = setup.target.device.native_driver
    if dev.driver != want:
        raise CheckFailed(f"device {dev.slot} in the driver domain", f"driver {want}",
                          dev.driver or "no driver")


def device_netdev(setup: Context) -> str:
    dev = device_in_driver_domain(setup)
    ifaces = pci.net_interfaces(setup.drvdom.runner, dev.slot)
    if len(ifaces) != 1:
        raise CheckFailed(f"device {dev.slot} in the driver domain", "one network interface",
                          ", ".join(ifaces) or "none")
    return ifaces[0]
