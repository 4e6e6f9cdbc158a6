"""A host as the suite sees it: one runner and the resources read through it."""

from __future__ import annotations

from functools import cached_property

from .bridge import Bridge
from .hotplug import Hotplug
from .kernel import Kernel
from .pci import PciDevice
from .runner import Runner
from .xl import Xl


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

    def read(self, path: str) -> str | None:
        r = self.runner.run("cat", path)
        return r.stdout if r.ok else None
