"""The driver-domain setup of one target: bring it up for real, and put the host back.

Every change is made by a stage (:mod:`.stages`) through a :class:`Journal` entry that knows
how to undo it; restoring runs the entries last-first, each one even when an earlier one
failed, and then compares the host's state with the state found before the first change.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from .. import console, wait
from ..drvdom_image import WORK
from ..errors import CheckFailed, HarnessError
from ..host import Host
from ..inventory import Target
from ..runner import Runner
from ..ssh import SSHRunner
from . import persist, stages
from .journal import HostState, Journal
from .persist import Record
from .stages import MARKER, Stage

REBOOT_TIMEOUT = 600.0     # Dom0 back over SSH after a reboot (TCG: 44-46 s measured)


class StuckBoot(wait.WaitTimeout):
    """Dom0's console went silent during a reboot and Dom0 does not answer."""
GUESTS_AT_BOOT = persist.READY_DEADLINE + 120.0


class Setup:
    """Hosts of one target and the provisioning of its setup (when allowed)."""

    def __init__(self, target: Target, dom0: Runner, drvdom: Runner, *, provision: bool,
                 persist: bool = False, log: Callable[[str], None] = print) -> None:
        self.target = target
        self.dom0 = Host(dom0)
        self.drvdom = Host(drvdom)
        self.provision = provision
        self.persist = persist          # --persist: made permanent and the host rebooted
        self.persisted = False          # the driver domain brings up its bridge, xl devd
        self.rebooted = False           # Dom0 rebooted into the permanent setup by this run
        self.console_silence_s = console.SILENCE_S  # a stuck reboot (target.console_log)
        self.boot_ids: tuple[str, str] | None = None  # Dom0's boot before and after that
        self.record = Record(target.device.bdf)  # what --persist changed in Dom0
        self.log = log
        self.journal = Journal(log=log)
        self.reached = 0               # highest Stage reached by this run
        self.failed: str | None = None  # the stage that failed, not tried again
        self.before: HostState | None = None
        self.started: list[str] = []   # domains this run created
        self.device_found_driver: str | None = None
        self.payload: str | None = None      # the guests' ramdisk this run built
        self._bridge_ll: str | None = None
        self._work_checked = False
        self._console: tuple[int, str] = (-1, "")  # (domid, console tail) read last

    def __repr__(self) -> str:  # shown as a step parameter in the reports
        return f"Setup({self.target.name!r}, {'provision' if self.provision else 'check'})"

    # -- facts ----------------------------------------------------------------
    @property
    def bdf(self) -> str:
        return self.target.device.bdf

    def config_paths(self) -> list[str]:
        t = self.target
        return [t.config_path(t.driver_domain.name)] + [t.config_path(g) for g in t.guests.names]

    def state(self) -> HostState:
        """Dom0 as the suite may change it, read in one command: the device's driver, the
        domains, which of the suite's files exist, whether xen-pciback is loaded."""
        paths = [*self.config_paths(), WORK]
        if self.persist:  # also: no domain of ours left saved by xendomains at a shutdown
            t = self.target
            paths += [*persist.CONFIG_FILES, *(f"/var/lib/xen/save/{n}" for n in
                                              (t.driver_domain.name, *t.guests.names))]
        r = self.dom0.runner.run("sh", "-c", 'for p; do [ -e "$p" ] && echo "$p"; done; '
                                 '[ -d /sys/bus/pci/drivers/pciback ] && echo pciback; true',
                                 "sh", *paths)
        found = r.stdout.split()
        boot = tuple(sorted(persist.hashes(self.dom0.runner).items())) if self.persist else ()
        return HostState(self.dom0.pci(self.bdf).driver,
                         tuple(sorted(d.name for d in self.dom0.xl.domains())),
                         tuple(p for p in paths if p in found), "pciback" in found, boot)

    def passthrough_unsupported(self) -> str | None:
        """Why PCI passthrough cannot work on this host (None when it can): Xen reports
        ``hvm_directio``/``pv_directio`` in virt_caps only with an IOMMU it uses."""
        caps = self.dom0.xl.virt_caps()
        if "pv_directio" not in caps and "hvm_directio" not in caps:
            return ("PCI passthrough unsupported on this host: no IOMMU in use "
                    f"(xl info virt_caps: {' '.join(sorted(caps)) or 'none'})")
        return None

    def vif_name(self, guest: str, devid: int = 0) -> str | None:
        """Backend interface of a guest's vif: ``vif<domid>.<devid>``; None if not running."""
        dom = self.dom0.xl.domain(guest)
        return f"vif{dom.domid}.{devid}" if dom else None

    # -- provisioning ---------------------------------------------------------
    def ensure(self, stage: Stage) -> None:
        """Bring the setup up to ``stage``; in check mode change nothing, but find out whether
        the driver domain the stage needs runs at all (before asking it anything)."""
        if not self.provision:
            dd = self.target.driver_domain.name
            if stage >= Stage.DRIVER_DOMAIN and self.dom0.xl.domain(dd) is None:
                raise CheckFailed("xl list in Dom0", f"the driver domain {dd} running",
                                  "no such domain")
            return
        if self.before is None:
            self.before = self.state()
            self.device_found_driver = self.before.device_driver
        if self.persist:  # every checkpoint is checked on the setup after the reboot
            why = persist.unsupported(self.dom0.runner) if self.reached == 0 else None
            if why:
                raise HarnessError(why)
            stage = Stage.PERSISTED
        for s in Stage:
            if s > stage:
                break
            if s > self.reached:
                if self.failed is not None:
                    raise HarnessError(f"not provisioned: an earlier stage failed "
                                       f"({self.failed})")
                start = time.monotonic()
                try:
                    stages.BUILD[s](self)
                except Exception as e:
                    self.failed = f"{s.name.lower()}: {e}"
                    raise
                self.reached = s
                self.log(f"provisioned {s.name.lower()} in {time.monotonic() - start:.1f} s")

    def destroy(self, domain: str) -> None:
        if self.dom0.xl.domain(domain) is not None:
            self.dom0.xl.destroy(domain)
        wait.until(lambda: self.dom0.xl.domain(domain) is None, timeout=60,
                   what=f"{domain} to be gone")

    def unless_started(self, undo: Callable[[], object]) -> None:
        """Undo a change inside the driver domain, unless this run started that domain:
        then destroying it (a later journal entry) takes the change with it."""
        if self.target.driver_domain.name not in self.started:
            undo()

    def work_dir(self) -> str:
        """The suite's work dir in Dom0 (images, notes), made on first use; if this run
        made it, it is removed at restore, after everything in it."""
        if not self._work_checked:
            self._work_checked = True
            if not self.dom0.runner.run("test", "-d", WORK).ok:
                self.dom0.runner.run("mkdir", "-m", "0700", WORK, mutates=True, check=True)
                self.journal.push(f"remove {WORK}", lambda: self.dom0.runner.run(
                    "rm", "-rf", WORK, mutates=True, check=True, timeout=300))
        return WORK

    def wait_driver_domain(self) -> None:
        """Wait for the driver domain's SSH; when it does not answer, say what Dom0 sees of
        it (its state, the tail of its console), not only that it is unreachable."""
        dd = self.target.driver_domain
        runner = self.drvdom.runner
        if not isinstance(runner, SSHRunner):
            return
        try:
            took = runner.wait_reachable(timeout=dd.boot_timeout)
        except HarnessError as e:
            raise HarnessError(f"{e}\n{self.driver_domain_seen_from_dom0()}") from e
        self.log(f"{dd.name} answers over SSH {took:.0f} s after xl create")

    def driver_domain_seen_from_dom0(self) -> str:
        """The driver domain's state and the tail of its console, as Dom0 sees them (read
        once per domain: each failing step of a run would ask again)."""
        name = self.target.driver_domain.name
        try:
            dom = self.dom0.xl.domain(name)
            if dom is None:
                return f"Dom0: no domain {name} (xl list)"
            if self._console[0] != dom.domid:
                self._console = (dom.domid, self.dom0.xl.console_tail(name, lines=25))
        except HarnessError as e:
            return f"(Dom0 could not be asked: {e})"
        return (f"Dom0 sees {name}: id {dom.domid}, state {dom.state or '?'}; "
                f"the tail of its console:\n{self._console[1].rstrip() or '(empty)'}")

    def bridge_link_local(self) -> str:
        """The bridge's IPv6 link-local address in the driver domain: what guests ping."""
        if self._bridge_ll is None:
            self._bridge_ll = self.drvdom.bridge(self.target.bridge).link_local()
        return self._bridge_ll

    # -- reboots ----------------------------------------------------------------
    def boot_id(self) -> str:
        return self.dom0.runner.out("cat", "/proc/sys/kernel/random/boot_id",
                                    timeout=20).strip()

    def reboot_host(self, why: str) -> tuple[str, str]:
        """Reboot Dom0 for real and wait (with a deadline, progress logged) until it answers
        from a new boot; returns Dom0's boot ids before and after."""
        runner = self.dom0.runner
        old = self.boot_id()
        self.log(f"rebooting Dom0 {why}")
        start = time.monotonic()
        try:
            runner.run("systemctl", "reboot", mutates=True, timeout=30)
        except HarnessError:
            pass  # the connection may go down under the command
        runner.close()
        self.drvdom.runner.close()
        said = [start]
        new = [old]
        log = self.target.console_log
        silence = console.Silence(Path(log)) if log else None

        def back() -> bool:
            now = time.monotonic()
            if now - said[0] >= 30:
                self.log(f"waiting for Dom0 to come back ({now - start:.0f} s)")
                said[0] = now
            if silence is not None and silence.seconds() >= self.console_silence_s:
                raise StuckBoot(self._stuck(silence, why, now - start))
            try:
                new[0] = self.boot_id()
                return new[0] != old
            except HarnessError:
                runner.close()
                raise
        try:
            wait.until(back, timeout=REBOOT_TIMEOUT, interval=2,
                       what=f"Dom0 to come back after the reboot {why}")
        except StuckBoot as e:
            raise HarnessError(f"{e}\n{persist.manual_undo(self.bdf)}") from e
        except wait.WaitTimeout as e:
            raise HarnessError(f"Dom0 did not come back within {REBOOT_TIMEOUT:.0f} s of its "
                               f"reboot {why}: {e}\n{persist.manual_undo(self.bdf)}") from e
        took = time.monotonic() - start
        self.log(f"Dom0 back {took:.0f} s after the reboot")
        return old, new[0]

    def _stuck(self, silence: console.Silence, why: str, after: float) -> str:
        stage, last = silence.where()
        lines = "\n".join(f"  | {ln}" for ln in last) or "  | (nothing)"
        fault = "LAB FAULT [stuck boot] " if "lab" in self.target.extras else ""
        return (f"{fault}Dom0's boot after the reboot {why} is stuck: its console "
                f"({silence.path}) printed nothing for {silence.seconds():.0f} s and Dom0 "
                f"does not answer ({after:.0f} s after the reboot). The console stopped in "
                f"{stage}; its last lines:\n{lines}")

    def stop_domains(self) -> None:
        """The guests destroyed, then the driver domain shut down (destroyed if it does not
        stop within 120 s)."""
        t = self.target
        for name in reversed(t.guests.names):
            self.destroy(name)
        dd = t.driver_domain.name
        if self.dom0.xl.domain(dd) is not None:
            self.dom0.runner.run("timeout", "120", "xl", "shutdown", "-w", dd, mutates=True,
                                 timeout=150)
            self.destroy(dd)

    def reboot_into_persistent(self) -> None:
        """Reboot into the permanent setup, then wait for it to come back by itself: the
        driver domain (started by the autostart unit), its xl devd and bridge (its own
        config), the guests and their vifs."""
        # what was made at run time only goes with the reboot (the boot config makes it
        # again at boot; the restore's own reboot boots without it)
        self.journal.rebooted()
        self.rebooted = True
        # stopped first, guests before their backend: at shutdown Debian's xendomains saves
        # every running domain to /var/lib/xen/save (XENDOMAINS_SAVE) and restores it at
        # boot, before its backend exists (seen: 1 GB of saves left behind); from the next
        # boot on the autostart unit stops them itself, before xendomains does
        self.stop_domains()
        self.boot_ids = self.reboot_host("into the permanent setup")
        t = self.target
        dd = t.driver_domain.name
        start = time.monotonic()
        wait.until(lambda: self.dom0.xl.domain(dd), timeout=300,
                   what=f"{dd} started at boot by {persist.UNIT}")
        self.wait_driver_domain()
        stages.backend_daemon(self)
        stages.bridge(self)
        wait.until(lambda: all(self.dom0.xl.domain(g) for g in t.guests.names),
                   timeout=GUESTS_AT_BOOT, what=f"the guests started at boot by {persist.UNIT}")
        br = self.drvdom.bridge(t.bridge)
        for name in t.guests.names:
            vif = self.vif_name(name) or "?"
            stages.until_forwarding(br, vif, timeout=180,
                                    what=f"{vif} of {name} enslaved to {br.name}")
        self.log(f"the setup came back by itself {time.monotonic() - start:.0f} s after "
                 "Dom0 answered")

    # -- isolation ----------------------------------------------------------------
    def restart_driver_domain(self) -> float:
        """Destroy the driver domain while the guests run, create it again from its config,
        bring its backend daemon and bridge back, and plug each guest's vif into it again
        (libxl does not re-create a backend whose domain died: ``xl network-detach`` drops
        the dead vif, ``xl network-attach`` makes a new one in the new driver domain).
        Returns the seconds it took. Provision mode only, and only for a setup this run
        started."""
        t = self.target
        dd = t.driver_domain.name
        if dd not in self.started:
            raise HarnessError(f"{dd} was not started by this run: not restarting it")
        start = time.monotonic()
        self.destroy(dd)
        self.started.remove(dd)
        stages.create(self, dd, t.config_path(dd))
        self.drvdom.runner.close()
        self.wait_driver_domain()
        # the new domain has no xl devd nor bridge yet (a permanent one makes its own)
        stages.backend_daemon(self)
        stages.bridge(self)
        br = self.drvdom.bridge(t.bridge)
        for i, guest in enumerate(t.guests.names):
            for vif in self.dom0.xl.network_list(guest):
                self.dom0.xl.network_detach(guest, vif.devid)
            self.dom0.xl.network_attach(guest, mac=t.guests.mac(i), bridge=t.bridge, backend=dd)
        for guest in t.guests.names:
            vif = self.vif_name(guest, self.dom0.xl.network_list(guest)[0].devid)
            stages.until_forwarding(br, vif, timeout=180, what=f"{vif} of {guest} back on {br.name}")
        return time.monotonic() - start

    # -- probes: a change that proves what reading cannot, taken back at once -----------
    def plug_probe(self, timeout: float = 90.0) -> tuple[str, int, str]:
        """Plug a test vif, served by the driver domain, into the first guest, and wait
        (at most ``timeout``) until it settles: the backend Connected with a
        hotplug-status, or closed. Returns ``(guest, devid, vif<domid>.<devid>)``. It is
        unplugged by :meth:`unplug_probe`, or by the restore after a failure or Ctrl-C.
        Provision mode only."""
        if not self.provision:
            raise HarnessError("plugging a test vif changes the host: --provision only")
        t = self.target
        guest, dd = t.guests.names[0], t.driver_domain.name
        mac = t.guests.mac(len(t.guests.names))   # next to the guests', used by none
        before = {v.devid for v in self.dom0.xl.network_list(guest)}
        self.dom0.xl.network_attach(guest, mac=mac, bridge=t.bridge, backend=dd)
        self.journal.push(self._probe_undo(guest, mac), lambda: self._unplug(guest, mac))
        new = [v for v in self.dom0.xl.network_list(guest) if v.devid not in before]
        if not new:
            raise HarnessError(f"xl network-attach {guest} made no vif (xl network-list)")
        dom, backend = self.dom0.xl.domain(guest), self.dom0.xl.domain(dd)
        if dom is None or backend is None:
            raise HarnessError(f"{guest} or {dd} gone during the probe")
        devid = new[0].devid

        def settled() -> bool:
            be = self.dom0.xl.backends(backend.domid).get((dom.domid, devid))
            return be is not None and (be.state in (5, 6) or (
                be.state == 4 and "hotplug-status" in be.nodes))
        try:
            wait.until(settled, timeout=timeout, what=f"the test vif of {guest} to settle")
        except wait.WaitTimeout:
            pass  # the Then step reads and names the state it stayed in
        return guest, devid, f"vif{dom.domid}.{devid}"

    def unplug_probe(self, guest: str, devid: int) -> None:
        """Unplug the test vif (``xl network-detach``) and forget its undo."""
        mac = self.target.guests.mac(len(self.target.guests.names))
        self.dom0.xl.network_detach(guest, devid)
        self.journal.done(self._probe_undo(guest, mac))

    @staticmethod
    def _probe_undo(guest: str, mac: str) -> str:
        return f"unplug the test vif {mac} of {guest}"

    def _unplug(self, guest: str, mac: str) -> None:
        for vif in self.dom0.xl.network_list(guest):
            if vif.mac == mac:
                self.dom0.xl.network_detach(guest, vif.devid)

    # -- restoring --------------------------------------------------------------
    def adopt_kept(self) -> list[str]:
        """Rebuild the journal of a setup an earlier run left up with --keep, from what it
        wrote (configs carrying the suite's marker) and what xl remembers; returns what it
        will undo. Domains whose config the suite did not write are never touched."""
        if self.before is None:
            self.before = self.state()
        t = self.target
        if WORK in self.before.files:  # images built by the kept run: removed last
            self.journal.push(f"remove {WORK}", lambda: self.dom0.runner.run(
                "rm", "-rf", WORK, mutates=True, check=True, timeout=300))
        record = persist.load(self.dom0.runner) if WORK in self.before.files else None
        if record is None and self.dom0.file_exists(stages.PCIBACK_LOADED):
            self.journal.push("unload xen-pciback", lambda: self.dom0.runner.run(
                "modprobe", "-r", "xen-pciback", mutates=True))
        ours = []
        for name in (t.driver_domain.name, *t.guests.names):
            text = self.dom0.read(t.config_path(name))
            if text is not None and MARKER in text:
                ours.append(name)
        if t.driver_domain.name in ours:
            from ..kernel import hidden_bdfs
            hidden_at_boot = self.bdf in hidden_bdfs(self.dom0.kernel.cmdline)
            if record is None and not hidden_at_boot and \
                    self.dom0.xl.assignable_record(self.bdf) is not None:
                self.journal.push(f"give {self.bdf} back to its driver",
                                  lambda: self.dom0.xl.assignable_remove(self.bdf))
        for name in ours:  # the driver domain first, so it is undone last
            path = t.config_path(name)
            self.journal.push(f"remove {path}", lambda p=path: self.dom0.runner.run(
                "rm", "-f", p, mutates=True, check=True))
            self.journal.push(f"destroy {name}", lambda n=name: self.destroy(n))
            self.started.append(name)
        if record is not None:  # made permanent (--persist --keep): undone first, then a reboot
            runner = self.dom0.runner
            self.journal.push("put back the boot files update-grub and update-initramfs made",
                              lambda: persist.restore_generated(runner, record, self.log))
            self.journal.push(f"remove {', '.join(record.files)}",
                              lambda: persist.remove_files(runner, record))
            self.rebooted = True
        self.before = None  # the state before the kept run is not known
        return [u.what for u in self.journal.entries]

    def restore(self) -> list[str]:
        """Undo this run's changes and verify Dom0 is as found; returns the problems. After
        a reboot into the permanent setup, Dom0 is rebooted again once its files are back,
        so that it runs as it boots without them."""
        problems: list[str] = []
        if self.rebooted:  # interrupted while Dom0 was down: wait for it first
            try:
                self.dom0.runner.close()
                if isinstance(self.dom0.runner, SSHRunner):
                    self.dom0.runner.wait_reachable(timeout=REBOOT_TIMEOUT)
            except HarnessError as e:
                return [f"Dom0 does not answer after the reboot: {e}\n"
                        f"{persist.manual_undo(self.bdf)}"]
        problems += self.journal.unwind()
        if self.rebooted:
            try:
                self.reboot_host("to boot without the suite's boot config")
                self.rebooted = False
            except HarnessError as e:
                problems.append(str(e))
        self.reached = 0
        self.started.clear()
        if self.before is not None:
            try:
                after = self.state()
                problems += [f"Dom0 not restored: {d}" for d in self.before.diff(after)]
            except HarnessError as e:
                problems.append(f"could not read Dom0's state after restoring: {e}")
        return problems
