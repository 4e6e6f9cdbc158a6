"""What the inventory may leave out, read from Dom0 when the run starts (read-only):
the device's native driver, Dom0's kernel and initrd (the driver domain's and the guests'
defaults). Returns the target with those fields filled in."""

from __future__ import annotations

import dataclasses

from xenaccept.errors import HarnessError
from xenaccept.model import validate
from xenaccept.model.target import Target
from xenaccept.resources.host import Host
from xenaccept.resources.kernel import parse_cmdline


def native_driver(dom0: Host, bdf: str) -> str:
    """The driver that drives the device natively: the one bound now unless it is pciback,
    else the module lspci names for it (its modalias), else the driver libxl remembered."""
    dev = dom0.pci(bdf)
    if not dev.exists:
        raise HarnessError(f"no PCI device {bdf} in Dom0 (device.bdf)")
    bound = dev.driver
    if bound and bound != "pciback":
        return validate.driver(bound, "native driver")
    found = dev.lspci()
    if found is not None and found.modules:
        return validate.driver(found.modules[0], "native driver")
    recorded = dom0.xl.assignable_record(bdf)
    if recorded:
        return validate.driver(recorded.rsplit("/", 1)[-1], "native driver")
    raise HarnessError(f"cannot tell the native driver of {bdf} (on {bound or 'no driver'}, "
                       "no module for it): give device.native_driver in the inventory")


def dom0_boot_files(dom0: Host) -> tuple[str, str]:
    """Dom0's kernel and initrd in /boot: the one its boot loader named (BOOT_IMAGE), else
    Debian's names for the running release."""
    release = dom0.kernel.release
    image = parse_cmdline(dom0.kernel.cmdline).get("BOOT_IMAGE", "")
    image = image.split(")", 1)[-1]  # GRUB may write (hd0,msdos1)/boot/...
    kernel = image if image.startswith("/boot/vmlinuz") else f"/boot/vmlinuz-{release}"
    ramdisk = f"/boot/initrd.img-{release}"
    for what, path in (("kernel", kernel), ("initrd", ramdisk)):
        validate.abs_path(path, f"Dom0's {what}")
    missing = dom0.missing(kernel, ramdisk)
    for what, path in (("kernel", kernel), ("initrd", ramdisk)):
        if path in missing:
            raise HarnessError(f"Dom0's {what} {path} not found: give driver_domain.kernel "
                               "and driver_domain.ramdisk in the inventory")
    return kernel, ramdisk


def resolve(target: Target, dom0: Host) -> Target:
    """The target with every field the inventory left to the host filled in."""
    dev, dd, g = target.device, target.driver_domain, target.guests
    if dev.native_driver is None:
        dev = dataclasses.replace(dev, native_driver=native_driver(dom0, dev.bdf))
    if dd.kernel is None or dd.ramdisk is None or g.kernel is None:
        kernel, ramdisk = dom0_boot_files(dom0)
        # a driver domain the suite builds gets an initramfs of its own (drvdom_image)
        dd = dataclasses.replace(dd, kernel=dd.kernel or kernel,
                                 ramdisk=dd.ramdisk or (None if dd.built else ramdisk))
        g = dataclasses.replace(g, kernel=g.kernel or kernel)
    return dataclasses.replace(target, device=dev, driver_domain=dd, guests=g)
