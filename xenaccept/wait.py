"""Polling with a deadline: the only way the suite waits."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from .errors import HarnessError, HostKeyError

T = TypeVar("T")


class WaitTimeout(HarnessError):
    """A condition did not come true before its deadline."""


def until(probe: Callable[[], T | None], *, timeout: float, what: str,
          interval: float = 1.0, last_seen: Callable[[], str] | None = None) -> T:
    """Call ``probe`` until it returns a truthy value and return it.

    ``probe`` may raise :class:`HarnessError` while the condition is not reachable yet (a
    host rebooting); the last such error is reported if the deadline passes. Raises
    :class:`WaitTimeout` naming ``what`` and what was last seen.
    """
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while True:
        try:
            value = probe()
            if value:
                return value
        except (WaitTimeout, HostKeyError):
            raise  # waiting will not change a refused key
        except HarnessError as e:
            last_error = e
        now = time.monotonic()
        if now >= deadline:
            seen = last_seen() if last_seen else (str(last_error) if last_error else "not yet")
            raise WaitTimeout(f"timed out after {timeout:g} s waiting for {what}; last seen: {seen}")
        time.sleep(min(interval, max(0.0, deadline - now)))
