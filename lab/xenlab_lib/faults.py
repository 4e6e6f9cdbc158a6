"""Lab faults: crashes of the emulated stack (Xen, kernels, userland), as opposed to test
failures. Found by scanning the serial log (Xen + Dom0 console) and, when reachable, Dom0's
dmesg, `xl dmesg` and the guest console logs xenconsoled writes in Dom0."""
from __future__ import annotations

import re
from dataclasses import dataclass

PATTERNS = [
    ("segfault", re.compile(r"segfault at|Segmentation fault")),
    ("general protection", re.compile(r"general protection")),
    ("kernel BUG", re.compile(r"\bBUG:")),
    ("kernel Oops", re.compile(r"\bOops\b")),
    ("kernel panic", re.compile(r"Kernel panic")),
    ("glibc heap corruption", re.compile(r"malloc\(\)|free\(\): |double free|corrupted size|"
                                         r"stack smashing")),
    ("unhandled fault", re.compile(r"\bUnhandled\b")),
    ("invalid opcode", re.compile(r"invalid opcode|traps: .* trap ")),
    ("Xen fatal", re.compile(r"\(XEN\).*(FATAL|Panic on CPU)")),
    ("core dumped", re.compile(r"core dumped")),
]


@dataclass
class Fault:
    source: str
    lineno: int
    kind: str
    line: str

    def __str__(self) -> str:
        return f"LAB FAULT [{self.kind}] {self.source}:{self.lineno}: {self.line}"


def scan_text(text: str, source: str) -> list[Fault]:
    out = []
    for n, line in enumerate(text.splitlines(), 1):
        for kind, rx in PATTERNS:
            if rx.search(line):
                out.append(Fault(source, n, kind, line.strip()[:300]))
                break
    return out
