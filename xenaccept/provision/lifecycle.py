"""The domains' lifecycle beyond building them: Dom0 rebooted for real (and waited for), the
domains stopped for it, the permanent setup come back by itself, and the driver domain
restarted while its guests run (isolation)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from xenaccept.errors import HarnessError
from xenaccept.names import DOMAINS_UNIT
from xenaccept.provision.context import StageContext
from xenaccept.provision.persist.apply import write_autostart, write_driver_domain
from xenaccept.provision.persist.record import manual_undo
from xenaccept.provision.persist.templates import READY_DEADLINE
from xenaccept.provision.stages import backend_daemon, bridge, create, until_forwarding
from xenaccept import console
from xenaccept.resources import nextboot
from xenaccept.transport import wait

REBOOT_TIMEOUT = 600.0     # Dom0 back over SSH after a reboot (TCG: 44-46 s measured)
GUESTS_AT_BOOT = READY_DEADLINE + 120.0


class StuckBoot(wait.WaitTimeout):
    """Dom0's console went silent during a reboot and Dom0 does not answer."""


def reboot_host(s: StageContext, why: str) -> tuple[str, str]:
    """Reboot Dom0 for real and wait (with a deadline, progress logged) until it answers
    from a new boot; returns Dom0's boot ids before and after."""
    runner = s.dom0.runner
    old = s.boot_id()
    s.log(f"rebooting Dom0 {why}")
    start = time.monotonic()
    try:
        runner.run("systemctl", "reboot", mutates=True, timeout=30)
    except HarnessError:
        pass  # the connection may go down under the command
    runner.close()
    s.drvdom.runner.close()
    said = [start]
    new = [old]
    log = s.target.console_log
    silence = console.Silence(Path(log)) if log else None

    def back() -> bool:
        now = time.monotonic()
        if now - said[0] >= 30:
            s.log(f"waiting for Dom0 to come back ({now - start:.0f} s)")
            said[0] = now
        try:
            new[0] = s.boot_id()
            if new[0] != old:
                return True
        except HarnessError:
            runner.close()
            stuck(now)
            raise
        stuck(now)
        return False

    def stuck(now: float) -> None:
        """Called only after a poll Dom0 did not answer from a new boot: a console silent
        long enough then is a stuck boot (a Dom0 that answers is never called stuck)."""
        if silence is not None and silence.seconds() >= s.console_silence_s:
            raise StuckBoot(_stuck(s, silence, why, now - start))
    try:
        s.until(back, timeout=REBOOT_TIMEOUT, interval=2,
                what=f"Dom0 to come back after the reboot {why}")
    except StuckBoot as e:
        raise HarnessError(f"{e}\n{manual_undo(s.bdf)}") from e
    except wait.WaitTimeout as e:
        raise HarnessError(f"Dom0 did not come back within {REBOOT_TIMEOUT:.0f} s of its "
                           f"reboot {why}: {e}\n{manual_undo(s.bdf)}") from e
    took = time.monotonic() - start
    s.log(f"Dom0 back {took:.0f} s after the reboot")
    return old, new[0]


def _stuck(s: StageContext, silence: console.Silence, why: str, after: float) -> str:
    stage, last = silence.where()
    lines = "\n".join(f"  | {ln}" for ln in last) or "  | (nothing)"
    fault = "LAB FAULT [stuck boot] " if "lab" in s.target.extras else ""
    return (f"{fault}Dom0's boot after the reboot {why} is stuck: its console "
            f"({silence.path}) printed nothing for {silence.seconds():.0f} s and Dom0 "
            f"does not answer ({after:.0f} s after the reboot). The console stopped in "
            f"{stage}; its last lines:\n{lines}")


def stop_domains(s: StageContext) -> None:
    """The guests destroyed, then the driver domain shut down (destroyed if it does not
    stop within 120 s)."""
    t = s.target
    for name in reversed(t.guests.names):
        s.destroy(name)
    dd = t.driver_domain.name
    if s.dom0.xl.domain(dd) is not None:
        s.dom0.runner.run("timeout", "120", "xl", "shutdown", "-w", dd, mutates=True,
                          timeout=150)
        s.destroy(dd)


def reboot_into_persistent(s: StageContext) -> None:
    """Reboot into the permanent setup, then wait for it to come back by itself: the
    driver domain (started by the autostart unit), its xl devd and bridge (its own
    config), the guests and their vifs."""
    # what was made at run time only goes with the reboot (the boot config makes it
    # again at boot; the restore's own reboot boots without it)
    s.journal.rebooted()
    s.rebooted = True
    # stopped first, guests before their backend: at shutdown Debian's xendomains saves
    # every running domain to /var/lib/xen/save (XENDOMAINS_SAVE) and restores it at
    # boot, before its backend exists (seen: 1 GB of saves left behind); from the next
    # boot on the autostart unit stops them itself, before xendomains does
    stop_domains(s)
    s.boot_ids = reboot_host(s, "into the permanent setup")
    t = s.target
    dd = t.driver_domain.name
    start = time.monotonic()
    s.until(lambda: s.dom0.xl.domain(dd), timeout=300,
            what=f"{dd} started at boot by {DOMAINS_UNIT}")
    s.wait_driver_domain()
    backend_daemon(s)
    bridge(s)
    s.until(lambda: all(s.dom0.xl.domain(g) for g in t.guests.names),
            timeout=GUESTS_AT_BOOT, what=f"the guests started at boot by {DOMAINS_UNIT}")
    br = s.drvdom.bridge(t.bridge)
    for name in t.guests.names:
        vif = s.vif_name(name) or "?"
        until_forwarding(s, br, vif, timeout=180,
                         what=f"{vif} of {name} enslaved to {br.name}")
    s.log(f"the setup came back by itself {time.monotonic() - start:.0f} s after "
          "Dom0 answered")


def restart_driver_domain(s: StageContext, kill: Callable[[], None] | None = None) -> float:
    """Destroy the driver domain while the guests run (or ``kill`` it another way, then
    destroy what is left), create it again from its config,
    bring its backend daemon and bridge back, and plug each guest's vif into it again
    (libxl does not re-create a backend whose domain died: ``xl network-detach`` drops
    the dead vif, ``xl network-attach`` makes a new one in the new driver domain).
    Returns the seconds it took. Provision mode only, and only for a setup this run
    started."""
    t = s.target
    dd = t.driver_domain.name
    if dd not in s.started:
        raise HarnessError(f"{dd} was not started by this run: not restarting it")
    start = time.monotonic()
    if kill is not None:
        kill()
    s.destroy(dd)
    s.started.remove(dd)
    create(s, dd, t.config_path(dd))
    s.drvdom.runner.close()
    s.wait_driver_domain()
    # the new domain has no xl devd nor bridge yet (a permanent one makes its own)
    backend_daemon(s)
    bridge(s)
    br = s.drvdom.bridge(t.bridge)
    for i, guest in enumerate(t.guests.names):
        for vif in s.dom0.xl.network_list(guest):
            s.dom0.xl.network_detach(guest, vif.devid)
        s.dom0.xl.network_attach(guest, mac=t.guests.mac(i), bridge=t.bridge, backend=dd)
    for guest in t.guests.names:
        port = s.vif_name(guest, s.dom0.xl.network_list(guest)[0].devid)
        until_forwarding(s, br, port or "?", timeout=180,
                         what=f"{port} of {guest} back on {br.name}")
    return time.monotonic() - start


def persistent(s: StageContext) -> None:
    """The running setup made permanent (:mod:`.persist`; the boot-time hide was written with
    the run-time one), then the host rebooted for real and everything waited for as it
    comes back by itself. Never into a next boot that is already known broken: it is read
    first, as check mode reads it (:mod:`xenaccept.resources.nextboot`)."""
    write_driver_domain(s)
    s.persisted = True
    write_autostart(s, s.record)
    nb = nextboot.read(s.dom0, s.drvdom, s.target, s.bdf, list_initramfs=True)
    problems = nb.problems()
    if problems:
        raise HarnessError("not rebooting: the next boot would not bring the setup back: "
                           + "; ".join(problems))
    s.log(f"the next boot: {nb.summary()}")
    reboot_into_persistent(s)
