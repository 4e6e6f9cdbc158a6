"""Putting the host back: the journal of a kept setup rebuilt from what it wrote (adoption),
and the restore that undoes a run's changes and compares Dom0 with the state before."""

from __future__ import annotations

from collections.abc import Callable

from xenaccept.errors import HarnessError
from xenaccept.names import MARKER, PCIBACK_LOADED, WORK, XENDOMAINS_SAVE
from xenaccept.provision.context import StageContext
from xenaccept.provision.lifecycle import REBOOT_TIMEOUT, reboot_host
from xenaccept.provision.persist.record import load, manual_undo, remove_files, restore_generated
from xenaccept.resources.kernel import hidden_bdfs
from xenaccept.transport.ssh import SSHRunner


def adopt_kept(s: StageContext) -> list[str]:
    """Rebuild the journal of a setup an earlier run left up with --keep, from what it
    wrote (configs carrying the suite's marker) and what xl remembers; returns what it
    will undo. Domains whose config the suite did not write are never touched."""
    if s.before is None:
        s.before = s.state()
    t = s.target
    if WORK in s.before.files:  # images built by the kept run: removed last
        s.journal.push(f"remove {WORK}", lambda: s.dom0.runner.run(
            "rm", "-rf", WORK, mutates=True, check=True, timeout=300))
    record = load(s.dom0.runner) if WORK in s.before.files else None
    if record is None and s.dom0.file_exists(PCIBACK_LOADED):
        s.journal.push("unload xen-pciback", lambda: s.dom0.runner.run(
            "modprobe", "-r", "xen-pciback", mutates=True))
    ours = []
    for name in (t.driver_domain.name, *t.guests.names):
        text = s.dom0.read(t.config_path(name))
        if text is not None and MARKER in text:
            ours.append(name)
    if t.driver_domain.name in ours:
        hidden_at_boot = s.bdf in hidden_bdfs(s.dom0.kernel.cmdline)
        if record is None and not hidden_at_boot and \
                s.dom0.xl.assignable_record(s.bdf) is not None:
            s.journal.push(f"give {s.bdf} back to its driver",
                           lambda: s.dom0.xl.assignable_remove(s.bdf))
    for name in ours:  # the driver domain first, so it is undone last
        path = t.config_path(name)
        s.journal.push(f"remove {path}", _remover(s, path))
        s.journal.push(f"destroy {name}", _destroyer(s, name))
        s.started.append(name)
    if record is not None:  # made permanent (--persist --keep): undone first, then a reboot
        runner = s.dom0.runner
        saves = [f"{XENDOMAINS_SAVE}/{n}" for n in ours]
        saved = [p for p in saves if p not in s.dom0.missing(*saves)] if saves else []
        if saved:  # domains of the setup Debian's xendomains saved at a shutdown
            s.journal.push(f"remove {', '.join(saved)}", lambda: runner.run(
                "rm", "-f", *saved, mutates=True, check=True))
        s.journal.push("put back the boot files update-grub and update-initramfs made",
                       lambda: restore_generated(runner, record, s.log))
        s.journal.push(f"remove {', '.join(record.files)}",
                       lambda: remove_files(runner, record))
        s.rebooted = True
    s.before = None  # the state before the kept run is not known
    return [u.what for u in s.journal.entries]


def _remover(s: StageContext, path: str) -> Callable[[], object]:
    return lambda: s.dom0.runner.run("rm", "-f", path, mutates=True, check=True)


def _destroyer(s: StageContext, name: str) -> Callable[[], None]:
    return lambda: s.destroy(name)


def restore(s: StageContext) -> list[str]:
    """Undo this run's changes and verify Dom0 is as found; returns the problems. After
    a reboot into the permanent setup, Dom0 is rebooted again once its files are back,
    so that it runs as it boots without them."""
    problems: list[str] = []
    if s.rebooted:  # interrupted while Dom0 was down: wait for it first
        try:
            s.dom0.runner.close()
            if isinstance(s.dom0.runner, SSHRunner):
                s.dom0.runner.wait_reachable(timeout=REBOOT_TIMEOUT, history=s.waits)
        except HarnessError as e:
            return [f"Dom0 does not answer after the reboot: {e}\n"
                    f"{manual_undo(s.bdf)}"]
    problems += s.journal.unwind()
    if s.rebooted:
        try:
            reboot_host(s, "to boot without the suite's boot config")
            s.rebooted = False
        except HarnessError as e:
            problems.append(str(e))
    s.reached = 0
    s.started.clear()
    if s.before is not None:
        try:
            after = s.state()
            problems += [f"Dom0 not restored: {d}" for d in s.before.diff(after)]
        except HarnessError as e:
            problems.append(f"could not read Dom0's state after restoring: {e}")
    return problems
