"""Polling with a deadline: the only way the suite waits."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable
from typing import TypeVar

from xenaccept.errors import HarnessError, HostKeyError
from xenaccept.transport.runner import Runner

T = TypeVar("T")

# A wait as recorded in a ``history``: what, how long, how many polls, and the most the
# condition can have been true before the wait noticed it (from the start of the last poll
# that failed to the end of the one that succeeded), and how long that successful poll took
# (part of the bound: on a slow host, the observation itself). Read by the benchmark.
Waited = dict[str, float | int | str]


class WaitTimeout(HarnessError):
    """A condition did not come true before its deadline."""


def until(probe: Callable[[], T | None], *, timeout: float, what: str,
          interval: float = 0.25, last_seen: Callable[[], str] | None = None,
          patient: Iterable[Runner] = (), history: list[Waited] | None = None) -> T:
    """Call ``probe`` until it returns a truthy value and return it.

    ``probe`` may raise :class:`HarnessError` while the condition is not reachable yet (a
    host rebooting); the last such error is reported if the deadline passes. Raises
    :class:`WaitTimeout` naming ``what`` and what was last seen. The runners the probe
    goes through are ``patient`` meanwhile (:meth:`Runner.patient`); the wait is appended
    to ``history`` when it succeeds.
    """
    with contextlib.ExitStack() as stack:
        for runner in patient:
            stack.enter_context(runner.patient())
        return _until(probe, timeout, what, interval, last_seen, history)


def _until(probe: Callable[[], T | None], timeout: float, what: str, interval: float,
           last_seen: Callable[[], str] | None, history: list[Waited] | None) -> T:
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
                if history is not None:
                    history.append({"what": what, "took": round(now - start, 3),
                                    "polls": polls, "notice_bound": round(now - last_failed, 3)
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
