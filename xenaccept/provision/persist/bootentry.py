"""Never reboot into a command line that lost what Dom0 boots with now: the entry GRUB
starts next, after update-grub wrote it, read back and checked."""

from __future__ import annotations

from xenaccept.errors import HarnessError
from xenaccept.resources import grub
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
    """Never reboot into a command line that lost what Dom0 boots with now: the entry GRUB
    starts next (:func:`xenaccept.resources.grub.next_entry`) must boot Xen, keep every
    argument of /proc/cmdline and add the hide."""
    env = runner.run("cat", grub.ENV)
    entry, why = grub.next_entry(runner.out("cat", grub.CFG),
                                 grub.parse_env(env.stdout if env.ok else ""))
    if entry is None or entry.xen is None:
        raise HarnessError(f"GRUB would start {entry.title if entry else 'no entry'!r} ({why}), "
                           f"no Xen entry, after update-grub: not rebooting into it")
    lost = missing_args(running, entry.args, bdf)
    if lost:
        raise HarnessError(f"the Xen entry GRUB starts next ({entry.title!r}) would boot Dom0 "
                           f"with `{entry.args}`, without {' '.join(lost)} (Dom0 runs with "
                           f"`{running}`): not rebooting into it")
