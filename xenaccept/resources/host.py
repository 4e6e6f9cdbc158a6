"""A host as the suite sees it: one runner and the resources read through it."""

from __future__ import annotations

from functools import cached_property

from xenaccept.resources.bridge import Bridge
from xenaccept.resources.hotplug import Hotplug
from xenaccept.resources.kernel import Kernel
from xenaccept.resources.pci import PciDevice
from xenaccept.resources.xl import Xl
from xenaccept.transport.runner import Runner


class Host:
    """``host.kernel``, ``host.xl``, ``host.pci(bdf)``, ``host.bridge(name)``, ``host.hotplug``."""

    def __init__(self, runner: Runner) -> None:
        self.runner = runner

    @property
    def name(self) -> str:
        return self.runner.name

    @cached_property
    def kernel(self) -> Kernel:
        return Kernel(self.runner)

    @cached_property
    def xl(self) -> Xl:
        return Xl(self.runner)

    @cached_property
    def hotplug(self) -> Hotplug:
        return Hotplug(self.runner)

    def pci(self, bdf: str) -> PciDevice:
        return PciDevice(self.runner, bdf)

    def bridge(self, name: str) -> Bridge:
        return Bridge(self.runner, name)

    def file_exists(self, path: str) -> bool:
        return self.runner.run("test", "-e", path).ok

    def missing(self, *paths: str) -> list[str]:
        """Which of ``paths`` do not exist, in one read (once a read-only run)."""
        r = self.runner.run("sh", "-c", 'for p; do [ -e "$p" ] || echo "$p"; done', "sh",
                            *paths, once=True)
        return r.stdout.split()

    def read(self, path: str, *, once: bool = False) -> str | None:
        r = self.runner.run("cat", path, once=once)
        return r.stdout if r.ok else None
