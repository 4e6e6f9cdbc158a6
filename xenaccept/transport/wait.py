"""Polling with a deadline: the only way the suite waits."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from xenaccept.errors import HarnessError, HostKeyError

T = TypeVar("T")

# Every wait of this process: what, how long, how many polls, and the most the condition
# can have been true before the wait noticed it (from the start of the last poll that
# failed to the end of the one that succeeded), and how long that successful poll took
# (part of the bound: on a slow host, the observation itself). Read by the benchmark.
HISTORY: list[dict[str, float | int | str]] = []
_DEPTH = [0]


def waiting() -> bool:
    """True inside :func:`until` (transports then retry what they would fail fast)."""
    return _DEPTH[0] > 0


class WaitTimeout(HarnessError):
    """A condition did not come true before its deadline."""


def until(probe: Callable[[], T | None], *, timeout: float, what: str,
          interval: float = 0.25, last_seen: Callable[[], str] | None = None) -> T:
    """Call ``probe`` until it returns a truthy value and return it.

    ``probe`` may raise :class:`HarnessError` while the condition is not reachable yet (a
    host rebooting); the last such error is reported if the deadline passes. Raises
    :class:`WaitTimeout` naming ``what`` and what was last seen.
    """
    _DEPTH[0] += 1
    try:
        return _until(probe, timeout, what, interval, last_seen)
    finally:
        _DEPTH[0] -= 1


def _until(probe: Callable[[], T | None], timeout: float, what: str, interval: float,
           last_seen: Callable[[], str] | None) -> T:
    start = time.monotonic()
    deadline = start + timeout
    last_error: Exception | None = None
    polls = 0
    last_failed: float | None = None
    while True:
        poll_start = time.monotonic()
        polls += 1
        try:
            value = probe()
            if value:
                now = time.monotonic()
                HISTORY.append({"what": what, "took": round(now - start, 3), "polls": polls,
                                "notice_bound": round(now - last_failed, 3)
                                if last_failed is not None else 0.0,
                                "last_probe": round(now - poll_start, 3)})
                return value
        except (WaitTimeout, HostKeyError):
            raise  # waiting will not change a refused key
        except HarnessError as e:
            last_error = e
        last_failed = poll_start
        now = time.monotonic()
        if now >= deadline:
            seen = last_seen() if last_seen else (str(last_error) if last_error else "not yet")
            raise WaitTimeout(f"timed out after {timeout:g} s waiting for {what}; last seen: {seen}")
        time.sleep(min(interval, max(0.0, deadline - now)))
