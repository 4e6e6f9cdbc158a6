"""What a checkpoint reads through: the target and its hosts, nothing of provisioning.

:class:`~xenaccept.provision.Setup` is one (the steps pass it); a test may pass any object
with these members.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, TypeVar

from xenaccept.model.target import Target
from xenaccept.resources.host import Host


T = TypeVar("T")


class Context(Protocol):
    @property
    def target(self) -> Target: ...

    @property
    def dom0(self) -> Host: ...

    @property
    def drvdom(self) -> Host: ...

    @property
    def bdf(self) -> str:
        """The device's PCI address (the target's)."""
        ...

    @property
    def boot_ids(self) -> tuple[str, str] | None:
        """Dom0's boot ids before and after the reboot this run made (None: none made)."""
        ...

    def boot_id(self) -> str:
        """Dom0's boot id now."""
        ...

    def until(self, probe: Callable[[], T | None], *, timeout: float, what: str,
              interval: float = 0.25, last_seen: Callable[[], str] | None = None) -> T:
        """Poll ``probe`` until it is true (:func:`xenaccept.transport.wait.until`), the
        hosts patient meanwhile; the wait is recorded for the report."""
        ...
