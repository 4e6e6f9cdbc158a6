"""The driver-domain setup of one target: bring it up for real, and put the host back.

Every change is made by a stage (:mod:`.stages`) through a :class:`Journal` entry that knows
how to undo it; restoring runs the entries last-first, each one even when an earlier one
failed, and then compares the host's state with the state found before the first change.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from .. import wait
from ..drvdom_image import WORK
from ..errors import CheckFailed, HarnessError
from ..host import Host
from ..inventory import Target
from ..runner import Runner
from ..ssh import SSHRunner
from . import stages
from .journal import HostState, Journal
from .stages import MARKER, Stage


class Setup:
    """Hosts of one target and the provisioning of its setup (when allowed)."""

    def __init__(self, target: Target, dom0: Runner, drvdom: Runner, *, provision: bool,
                 log: Callable[[str], None] = print) -> None:
        self.target = target
        self.dom0 = Host(dom0)
        self.drvdom = Host(drvdom)
        self.provision = provision
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
        r = self.dom0.runner.run("sh", "-c", 'for p; do [ -e "$p" ] && echo "$p"; done; '
                                 '[ -d /sys/bus/pci/drivers/pciback ] && echo pciback; true',
                                 "sh", *paths)
        found = r.stdout.split()
        return HostState(self.dom0.pci(self.bdf).driver,
                         tuple(sorted(d.name for d in self.dom0.xl.domains())),
                         tuple(p for p in paths if p in found), "pciback" in found)

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
        self.reached = Stage.DRIVER_DOMAIN  # the new domain has no xl devd nor bridge yet
        self.ensure(Stage.BRIDGE)
        br = self.drvdom.bridge(t.bridge)
        for i, guest in enumerate(t.guests.names):
            for vif in self.dom0.xl.network_list(guest):
                self.dom0.xl.network_detach(guest, vif.devid)
            self.dom0.xl.network_attach(guest, mac=t.guests.mac(i), bridge=t.bridge, backend=dd)
        for guest in t.guests.names:
            vif = self.vif_name(guest, self.dom0.xl.network_list(guest)[0].devid)
            stages.until_forwarding(br, vif, timeout=180, what=f"{vif} of {guest} back on {br.name}")
        self.reached = Stage.GUESTS
        return time.monotonic() - start

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
        if self.dom0.file_exists(stages.PCIBACK_LOADED):
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
            if not hidden_at_boot and self.dom0.xl.assignable_record(self.bdf) is not None:
                self.journal.push(f"give {self.bdf} back to its driver",
                                  lambda: self.dom0.xl.assignable_remove(self.bdf))
        for name in ours:  # the driver domain first, so it is undone last
            path = t.config_path(name)
            self.journal.push(f"remove {path}", lambda p=path: self.dom0.runner.run(
                "rm", "-f", p, mutates=True, check=True))
            self.journal.push(f"destroy {name}", lambda n=name: self.destroy(n))
            self.started.append(name)
        self.before = None  # the state before the kept run is not known
        return [u.what for u in self.journal.entries]

    def restore(self) -> list[str]:
        """Undo this run's changes and verify Dom0 is as found; returns the problems."""
        problems = self.journal.unwind()
        self.reached = 0
        self.started.clear()
        if self.before is not None:
            try:
                after = self.state()
                problems += [f"Dom0 not restored: {d}" for d in self.before.diff(after)]
            except HarnessError as e:
                problems.append(f"could not read Dom0's state after restoring: {e}")
        return problems
