"""A watch on each boot the lab makes (a cold `up`, a snapshot restore): a console silent
for SILENCE_S while Dom0's SSH does not answer is a stuck boot. What a console shows of a
boot (its stages, its silence) is the suite's own knowledge of a Xen host's console,
xenaccept/console.py, read here as the suite reads an operator's console log.

SILENCE_S was chosen from boot timelines measured on this machine (lab/README.md, "A stuck
boot"): a healthy boot's longest silence before Dom0 answered was 2.8-9.8 s, and the hang a
newcomer met was silent for 15 minutes."""
from __future__ import annotations

import re
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from . import faults
from .common import LAB_DIR

sys.path.insert(0, str(LAB_DIR.parent))   # the repository: xenaccept's stdlib-only console
from xenaccept.console import SILENCE_S, Silence, clean, read, stage, tail  # noqa: E402

__all__ = ["SILENCE_S", "BootWatch", "Stuck", "clean", "stage", "tail", "vcpu_report"]


@dataclass
class Stuck:
    """A boot found stuck: what the console and QEMU showed."""
    what: str                      # the boot, e.g. "cold boot"
    silent_s: float                # how long the console had printed nothing
    stage: str
    why: str                       # what the lab could see of the cause
    last_lines: list[str]
    serial: Path                   # where the whole console is kept
    found_after_s: float           # since the boot started

    def report(self) -> str:
        shown = "\n".join(f"  | {ln}" for ln in self.last_lines) or "  | (nothing)"
        return (f"LAB FAULT [stuck boot] {self.what}: the serial console printed nothing for "
                f"{self.silent_s:.0f} s and Dom0's SSH did not answer ({self.found_after_s:.0f} s "
                f"after QEMU started). The console stopped in {self.stage}; {self.why}. "
                f"Console kept in {self.serial}; its last lines:\n{shown}")


@dataclass
class BootWatch:
    """Watches one boot on a thread: the console's size every 0.25 s. Once it has been
    silent for ``silence_s`` (and nobody called ``done()``: Dom0 answered), ``diagnose``
    says what QEMU shows, ``stop`` ends QEMU (so that a probe waiting on SSH returns at
    once) and ``stuck`` holds the verdict."""
    what: str
    serial: Path
    diagnose: Callable[[], str]
    stop: Callable[[], object]
    silence_s: float = SILENCE_S
    stuck: Stuck | None = None
    longest_silence_s: float = 0.0
    _done: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> "BootWatch":
        self._thread = threading.Thread(target=self._run, name=f"watch {self.what}",
                                        daemon=True)
        self._thread.start()
        return self

    def done(self) -> None:
        self._done.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _run(self) -> None:
        t0 = time.monotonic()
        silence = Silence(self.serial)
        while not self._done.wait(0.25):
            quiet = silence.seconds()
            self.longest_silence_s = max(self.longest_silence_s, quiet)
            if quiet < self.silence_s:
                continue
            try:
                why = self.diagnose()
            except Exception as e:  # noqa: BLE001 - the verdict must still be given
                why = f"QEMU could not be asked why ({e})"
            lines = clean(read(self.serial))
            crash = faults.scan_text("\n".join(lines), str(self.serial))
            if crash:
                why = f"the console shows a crash ({crash[-1].kind}: {crash[-1].line}); {why}"
            self.stuck = Stuck(self.what, quiet, stage(lines), why, tail(lines),
                               self.serial, time.monotonic() - t0)
            self.stop()
            return


# ------------------------------------------------------------------ what QEMU shows
RIP = re.compile(r"RIP=([0-9a-f]{16})")
HLT = re.compile(r"\bHLT=(\d)")


def where(rip: int) -> str:
    if 0xffff82d040000000 <= rip < 0xffff82d080000000:
        return "in Xen"
    if rip >= 0xffffffff80000000:
        return "in a Linux kernel (Dom0's)"
    if rip < 0x0000800000000000:
        return "in user space or real mode"
    return "elsewhere in the kernel half"


def vcpu_report(status: str, registers: str) -> str:
    """What QEMU's monitor says of the machine: 'info status' and 'info registers -a'."""
    if "paused" in status:
        return (f"QEMU reports the machine {status.strip().removeprefix('VM status: ')}: its "
                f"vCPUs do not run")
    rips = [int(m, 16) for m in RIP.findall(registers)]
    halts = HLT.findall(registers)
    if not rips:
        return f"QEMU reports {status.strip() or 'no status'}"
    cpus = []
    for i, rip in enumerate(rips):
        h = " (halted)" if i < len(halts) and halts[i] == "1" else ""
        cpus.append(f"vCPU {i} {where(rip)} at {rip:#x}{h}")
    return "QEMU runs the machine; " + ", ".join(cpus)
