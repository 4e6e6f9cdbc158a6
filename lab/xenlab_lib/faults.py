"""Lab faults: crashes of the emulated stack (Xen, kernels, userland), as opposed to test
failures. Found by scanning the serial log (Xen + Dom0 console) and, when reachable, Dom0's
dmesg, `xl dmesg`, the guest console logs xenconsoled writes in Dom0 and, while a domain
`drvdom` runs, the driver domain's journal."""
from __future__ import annotations

import re
from dataclasses import dataclass

PATTERNS = [
    ("segfault", re.compile(r"segfault at|Segmentation fault")),
    ("general protection", re.compile(r"general protection")),
    ("kernel BUG", re.compile(r"\bBUG:|kernel BUG at")),
    ("kernel Oops", re.compile(r"\bOops\b")),
    ("kernel panic", re.compile(r"Kernel panic")),
    ("glibc heap corruption", re.compile(r"malloc\(\)|free\(\): |double free|corrupted size|"
                                         r"stack smashing")),
    ("unhandled fault", re.compile(r"\bUnhandled\b")),
    ("invalid opcode", re.compile(r"invalid opcode|traps: .* trap ")),
    ("Xen fatal", re.compile(r"\(XEN\).*(FATAL|Panic on CPU)")),
    ("domain crashed", re.compile(r"\(XEN\).*(domain_crash|Domain \d+ .*crashed)")),
    ("hung task", re.compile(r"blocked for more than \d+ seconds")),
    # libxl (xl devd in the driver domain) kills a hotplug script after its fixed 40 s
    # (LIBXL_HOTPLUG_TIMEOUT): seen when the machine's CPUs were shared with another QEMU
    ("hotplug timeout", re.compile(r"async_exec_timeout: killing execution of .* because of "
                                   r"timeout")),
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


# a kernel BUG/Oops names the faulting function on a following "RIP:" line (e.g. the
# block-backend crash seen once under 6.12: "RIP: e030:set_foreign_p2m_mapping+0x8d")
WITH_RIP = {"kernel BUG", "kernel Oops", "general protection"}
RIP = re.compile(r"\bRIP: \S+")


def scan_text(text: str, source: str) -> list[Fault]:
    out = []
    lines = text.splitlines()
    for n, line in enumerate(lines, 1):
        for kind, rx in PATTERNS:
            if rx.search(line):
                msg = line.strip()[:300]
                if kind in WITH_RIP:
                    rip = next((m.group(0) for m in map(RIP.search, lines[n:n + 40]) if m),
                               None)
                    if rip:
                        msg += f"  [{rip}]"
                out.append(Fault(source, n, kind, msg))
                break
    return out
