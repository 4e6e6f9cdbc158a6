"""A Xen host's serial console during a boot: where the boot got to, from what the
console printed (the firmware, GRUB, Xen, Dom0's kernel, its initramfs, systemd, the login
prompt), and how long it has been silent. Pure functions over text, free of SSH: the
suite reads a console log that the inventory names (``console_log``), the lab reads its
QEMU's serial log."""
from __future__ import annotations

import re
import time
from pathlib import Path

SILENCE_S = 30.0   # a console silent this long while Dom0 does not answer: a stuck boot

# The stages of a boot in order, each with what its console prints. A console is at the
# furthest stage any of its lines reached (Xen keeps printing beside Dom0's kernel).
STAGES: list[tuple[str, re.Pattern[str]]] = [
    ("the firmware (SeaBIOS)", re.compile(r"SeaBIOS \(version|Booting from ")),
    ("GRUB", re.compile(r"GNU GRUB|Booting `|Loading Xen|Loading Linux|Loading initial ramdisk")),
    ("Xen", re.compile(r"^\(XEN\) ")),
    ("Xen building Dom0", re.compile(r"\(XEN\) \*\*\* (Building a PV Dom0|LOADING DOMAIN 0)")),
    ("Dom0's kernel", re.compile(r"^\[\s*\d+\.\d+\] |Linux version \d")),
    ("Dom0's initramfs", re.compile(r"^Loading, please wait|^Begin: |^Done\.$")),
    ("Dom0's userspace (systemd)", re.compile(r"systemd\[1\]|^Welcome to |\[  OK  \]|"
                                               r"\[\s*\d+\.\d+\] systemd")),
    ("Dom0's login prompt", re.compile(r" login: ")),
]
KTIME = re.compile(r"^\[\s*(\d+\.\d+)\] ")
ESCAPES = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07\x1b]*(\x07|\x1b\\)|\x1b[()][A-Z0-9]|\x1b|\r")


def clean(text: str) -> list[str]:
    """The console's lines without terminal escapes (GRUB draws its menu with them)."""
    return ESCAPES.sub("", text).split("\n")


def stage(lines: list[str]) -> str:
    """Where a boot got to: the furthest stage, with the kernel's own clock when Dom0's
    kernel printed last ("Dom0's kernel, 6.6 s into its boot")."""
    reached = -1
    for ln in lines:
        for i in range(len(STAGES) - 1, reached, -1):
            if STAGES[i][1].search(ln):
                reached = i
                break
    if reached < 0:
        return "before the firmware printed anything"
    name = STAGES[reached][0]
    if name == "Dom0's kernel":
        for ln in reversed(lines):
            m = KTIME.match(ln)
            if m:
                return f"{name}, {float(m.group(1)):.1f} s into its boot"
    return name


def tail(lines: list[str], n: int = 15) -> list[str]:
    return [ln for ln in lines if ln.strip()][-n:]


def read(p: Path) -> str:
    try:
        return p.read_text(errors="replace")
    except OSError:
        return ""


class Silence:
    """How long a console log has printed nothing: ``seconds()`` at each poll."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.size = self._size()
        self.last = time.monotonic()

    def _size(self) -> int:
        try:
            return self.path.stat().st_size
        except OSError:
            return 0

    def seconds(self) -> float:
        now, size = time.monotonic(), self._size()
        if size != self.size:
            self.size, self.last = size, now
        return now - self.last

    def where(self, n: int = 15) -> tuple[str, list[str]]:
        """The stage the console stopped in, and its last lines."""
        lines = clean(read(self.path))
        return stage(lines), tail(lines, n)


