"""Never reboot into a command line that lost what Dom0 boots with now: the default Xen
entry update-grub wrote, read back and checked."""

from __future__ import annotations

from xenaccept.errors import HarnessError
from xenaccept.resources.grub import missing_args
from xenaccept.transport.runner import Runner

__all__ = ["check_default_entry", "dom0_line", "missing_args"]


def dom0_line(grub_cfg: str) -> str | None:
    """Dom0's command line in the first Xen entry of a grub.cfg (the default one once
    Debian's xen.cfg has made a Xen entry the default): its first ``module2`` line."""
    for line in grub_cfg.splitlines():
        words = line.split()
        if words[:1] == ["module2"] and len(words) > 1 and "vmlinuz" in words[1]:
            return " ".join(words[2:])
    return None


def check_default_entry(runner: Runner, running: str, bdf: str) -> None:
    """Never reboot into a command line that lost what Dom0 boots with now: the default
    Xen entry must keep every argument of /proc/cmdline and add the hide."""
    entry = dom0_line(runner.out("cat", "/boot/grub/grub.cfg"))
    if entry is None:
        raise HarnessError("update-grub wrote no Xen entry (module2 with a kernel) in "
                           "/boot/grub/grub.cfg: not rebooting into it")
    lost = missing_args(running, entry, bdf)
    if lost:
        raise HarnessError(f"the default Xen entry update-grub wrote would boot Dom0 with "
                           f"`{entry}`, without {' '.join(lost)} (Dom0 runs with `{running}`):"
                           " not rebooting into it")
