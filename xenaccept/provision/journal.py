"""Undo records: every change the suite makes is pushed with how to undo it; restoring
runs them last-first, each one even when an earlier one failed."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Undo:
    what: str
    action: Callable[[], object]
    running_only: bool = False   # a change to the running host only: a reboot undoes it


@dataclass
class Journal:
    entries: list[Undo] = field(default_factory=list)
    log: Callable[[str], None] = print

    def push(self, what: str, action: Callable[[], object], *,
             running_only: bool = False) -> None:
        """Remember how to undo a change; a change already remembered (the same ``what``, as
        when a restarted driver domain gets its bridge again) is not undone twice.
        ``running_only``: the change lives in the running host only (a module loaded, a
        device rebound, a daemon started), so a reboot takes it away."""
        if all(u.what != what for u in self.entries):
            self.entries.append(Undo(what, action, running_only))

    def done(self, what: str) -> None:
        """Forget the change ``what``: the run undid it itself (a probe taken back)."""
        self.entries = [u for u in self.entries if u.what != what]

    def rebooted(self) -> None:
        """Forget the changes a reboot took away."""
        self.entries = [u for u in self.entries if not u.running_only]

    def unwind(self) -> list[str]:
        """Undo everything, last first; returns the errors (it never stops half-way)."""
        errors = []
        while self.entries:
            undo = self.entries.pop()
            try:
                self.log(f"restore: {undo.what}")
                undo.action()
            except BaseException as e:  # noqa: BLE001 - a Ctrl-C must not skip the rest
                errors.append(f"{undo.what}: {type(e).__name__}: {e}")
        return errors


@dataclass(frozen=True)
class HostState:
    """What the suite may change on Dom0, to compare before and after a run."""

    device_driver: str | None
    domains: tuple[str, ...]
    files: tuple[str, ...]            # the suite's configs and its work dir, where present
    pciback_loaded: bool = False
    boot: tuple[tuple[str, str], ...] = ()  # --persist: (path, sha256) of grub.cfg, initrds

    def diff(self, other: HostState) -> list[str]:
        out = []
        for name in ("device_driver", "domains", "files", "pciback_loaded", "boot"):
            a, b = getattr(self, name), getattr(other, name)
            if a != b:
                out.append(f"{name}: before {a!r}, after {b!r}")
        return out
