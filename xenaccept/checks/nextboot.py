"""9b. The permanent setup will come back at the next boot: read without rebooting (what
GRUB will start, what its initramfs holds, which units are enabled, what the driver domain
boots), each failure said as what the next boot would do."""

from __future__ import annotations

from collections.abc import Callable

from xenaccept.checks.context import Context
from xenaccept.errors import CheckFailed
from xenaccept.resources import nextboot
from xenaccept.resources.nextboot import NextBoot


def read(setup: Context) -> NextBoot:
    """The next boot of ``setup``'s target (the driver domain's units read when it runs)."""
    t = setup.target
    running = setup.dom0.xl.domain(t.driver_domain.name) is not None
    return nextboot.read(setup.dom0, setup.drvdom if running else None, t, setup.bdf)


def _holds(nb: NextBoot, what: str, expected: str,
           problems: Callable[[NextBoot], list[str]]) -> None:
    found = problems(nb)
    if found:
        rest = [p for p in nb.problems() if p not in found]
        raise CheckFailed(what, expected, "; ".join(found) + f" (the next boot: {nb.summary()}"
                          + "".join(f"; and {p}" for p in rest) + ")")


def boot_entry(nb: NextBoot) -> None:
    _holds(nb, "GRUB's next boot", "a Xen entry giving Dom0 the hide and every argument it "
           "runs with now", NextBoot.entry_problems)


def initramfs(nb: NextBoot) -> None:
    _holds(nb, "the initramfs of Dom0's next kernel",
           "xen-pciback and its softdep before the native driver", NextBoot.initramfs_problems)


def units(nb: NextBoot) -> None:
    _holds(nb, "the units that start the setup at boot",
           "enabled in Dom0 and in the driver domain's disk", NextBoot.unit_problems)


def driver_domain_boot(nb: NextBoot) -> None:
    _holds(nb, "the driver domain's next boot",
           "Dom0's next kernel, from boot files that exist and were made for it",
           NextBoot.drvdom_problems)
