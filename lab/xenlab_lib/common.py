"""Paths, logging with elapsed time, subprocess and polling helpers."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Sequence, TypeVar

LAB_DIR = Path(__file__).resolve().parent.parent
T = TypeVar("T")


class LabError(Exception):
    """The lab could not do what was asked (exit code 2)."""


def cache_dir() -> Path:
    return Path(os.environ.get("XENLAB_CACHE", "/var/cache/xenlab"))


def lab_name() -> str:
    name = os.environ.get("XENLAB_NAME", "default")
    if not name or not all(c.isalnum() or c in "-_" for c in name):
        raise LabError(f"XENLAB_NAME must be [A-Za-z0-9_-]+, got {name!r}")
    return name


def run_dir() -> Path:
    return LAB_DIR / "run" / lab_name()


class Clock:
    """Prints stages with the time elapsed since the clock started."""

    def __init__(self) -> None:
        self.t0 = time.monotonic()

    def elapsed(self) -> float:
        return time.monotonic() - self.t0

    def log(self, msg: str) -> None:
        print(f"[xenlab {fmt_secs(self.elapsed())}] {msg}", flush=True)


def fmt_secs(s: float) -> str:
    m, sec = divmod(int(s), 60)
    return f"{m:d}m{sec:02d}s" if m else f"{s:5.1f}s"


def run(cmd: Sequence[str], *, timeout: float, check: bool = True, capture: bool = False,
        input: str | bytes | None = None, env: dict | None = None,
        cwd: str | Path | None = None, log: Path | None = None) -> subprocess.CompletedProcess:
    """subprocess.run with a mandatory timeout; raises LabError on failure if check. With
    ``log`` (and no capture) the command's output is appended to that file, not shown."""
    text = not isinstance(input, bytes)
    out = None
    if capture:
        out = subprocess.PIPE
    elif log is not None:
        out = open(log, "a")
        out.write(f"\n$ {' '.join(map(str, cmd))}\n")
        out.flush()
    try:
        cp = subprocess.run(list(cmd), timeout=timeout, input=input, text=text, env=env, cwd=cwd,
                            stdout=out, stderr=out)
    except subprocess.TimeoutExpired as e:
        raise LabError(f"timed out after {timeout:.0f}s: {' '.join(map(str, cmd))}"
                       + (f" (its output: {log})" if log else "")) from e
    finally:
        if out not in (None, subprocess.PIPE):
            out.close()
    if check and cp.returncode != 0:
        err = (cp.stderr or "")[-2000:] if capture else ""
        if log is not None and not capture:
            err = f"(its output: {log}; the last lines:)\n" + "\n".join(
                log.read_text(errors="replace").splitlines()[-25:])
        raise LabError(f"exit {cp.returncode}: {' '.join(map(str, cmd))}\n{err}")
    return cp


def wait_until(what: str, probe: Callable[[], T | None], *, deadline_s: float,
               interval: float = 2.0, on_tick: Callable[[], None] | None = None) -> T:
    """Poll probe() until it returns a truthy value or the deadline passes."""
    end = time.monotonic() + deadline_s
    while True:
        val = probe()
        if val:
            return val
        if on_tick:
            on_tick()
        if time.monotonic() >= end:
            raise LabError(f"timed out after {deadline_s:.0f}s waiting for {what}")
        time.sleep(min(interval, max(0.0, end - time.monotonic())))


def die(msg: str, code: int = 2) -> None:
    print(f"xenlab: {msg}", file=sys.stderr, flush=True)
    sys.exit(code)
