"""pytest wiring: command-line options and the plugin modules (fixtures, steps, reporting)."""

from __future__ import annotations

import pytest

pytest_plugins = [
    "fixtures.record",
    "fixtures.setup",
    "fixtures.reporting",
    "fixtures.history",
    "fixtures.guide",
    "fixtures.lan",
    "steps.common",
    "steps.dom0",
    "steps.driver_domain",
    "steps.guests",
    "steps.reboot",
    "steps.lan",
]


def pytest_addoption(parser: pytest.Parser) -> None:
    g = parser.getgroup("xenaccept", "Xen driver-domain acceptance")
    g.addoption("--inventory", metavar="PATH", default=None,
                help="inventory YAML of the hosts to check; write it --inventory=PATH "
                     "(default: $XENACCEPT_INVENTORY, else the lab's, "
                     "lab/run/$XENLAB_NAME/inventory.yaml, XENLAB_NAME defaulting to 'default')")
    g.addoption("--provision", action="store_true",
                help="build the setup for real (hide the device, start the driver domain, "
                     "bridge, xl devd, guests) and restore the host afterwards; without it "
                     "the suite is read-only (check mode)")
    g.addoption("--persist", action="store_true",
                help="with --provision: make the setup permanent as an operator does (hide "
                     "through GRUB, xen-pciback in the initramfs, the domains started at "
                     "boot), reboot Dom0 for real and run every checkpoint on what comes "
                     "back; the restore puts every file back and reboots Dom0 again")
    g.addoption("--keep", action="store_true",
                help="with --provision: leave the provisioned setup up at the end")
    g.addoption("--target", metavar="NAME", action="append", default=None,
                help="only this target of the inventory (repeatable)")
