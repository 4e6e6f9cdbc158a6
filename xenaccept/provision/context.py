"""What the stages of a run share: the target, its two hosts, the undo journal, the log and
what the run has made so far, with the small helpers every stage uses. Stages, the
permanent setup, reboots and probes take a :class:`StageContext`; none of them calls back
into :class:`~xenaccept.provision.setup.Setup`, which is one with the stages' driver.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from xenaccept.errors import HarnessError
from xenaccept.model.target import Target
from xenaccept.names import ADDRESS_KEY, PERSIST_FILES, WORK, XENDOMAINS_SAVE
from xenaccept.provision.journal import HostState, Journal
from xenaccept.provision import reach
from xenaccept.provision.persist.record import Record, hashes
from xenaccept import console
from xenaccept.resources.host import Host
from xenaccept.resources.xenstore import KeyTimeout, await_key
from xenaccept.transport import wait
from xenaccept.transport.runner import Runner
from xenaccept.transport.ssh import SSHRunner


T = TypeVar("T")


class StageContext:
    """Hosts of one target and what a run has made on them."""

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
        self.waits: list[wait.Waited] = []   # every wait of this run, for the report
        self.reached = 0               # highest Stage reached by this run
        self.failed: str | None = None  # the stage that failed, not tried again
        self.before: HostState | None = None
        self.started: list[str] = []   # domains this run created
        self.device_found_driver: str | None = None
        self.payload: str | None = None      # the guests' ramdisk this run built
        self._bridge_ll: str | None = None
        self._work_checked = False
        self._console: tuple[int, str] = (-1, "")  # (domid, console tail) read last

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
            paths += [*PERSIST_FILES, *(f"{XENDOMAINS_SAVE}/{n}" for n in
                                              (t.driver_domain.name, *t.guests.names))]
        r = self.dom0.runner.run("sh", "-c", 'for p; do [ -e "$p" ] && echo "$p"; done; '
                                 '[ -d /sys/bus/pci/drivers/pciback ] && echo pciback; true',
                                 "sh", *paths)
        found = r.stdout.split()
        boot = tuple(sorted(hashes(self.dom0.runner).items())) if self.persist else ()
        return HostState(self.dom0.pci(self.bdf).driver,
                         tuple(sorted(d.name for d in self.dom0.xl.domains())),
                         tuple(p for p in paths if p in found), "pciback" in found, boot)

    def vif_name(self, guest: str, devid: int = 0) -> str | None:
        """Backend interface of a guest's vif: ``vif<domid>.<devid>``; None if not running."""
        dom = self.dom0.xl.domain(guest)
        return f"vif{dom.domid}.{devid}" if dom else None

    def until(self, probe: Callable[[], T | None], *, timeout: float, what: str,
              interval: float = 0.25, last_seen: Callable[[], str] | None = None) -> T:
        """:func:`wait.until`, the target's hosts patient meanwhile, recorded in
        :attr:`waits`."""
        return wait.until(probe, timeout=timeout, what=what, interval=interval,
                          last_seen=last_seen, patient=(self.dom0.runner, self.drvdom.runner),
                          history=self.waits)

    def destroy(self, domain: str) -> None:
        if self.dom0.xl.domain(domain) is not None:
            self.dom0.xl.destroy(domain)
        self.until(lambda: self.dom0.xl.domain(domain) is None, timeout=60,
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
        it (its state, the tail of its console), not only that it is unreachable. One the
        suite built tells Dom0 in xenstore when its SSH server listens (and at which
        address): that is watched from Dom0, so the suite logs in at once, not at its next
        SSH poll (each poll of a booting domain takes seconds under emulation)."""
        dd = self.target.driver_domain
        runner = self.drvdom.runner
        if not isinstance(runner, SSHRunner):
            return
        start = time.monotonic()
        try:
            left: float = dd.boot_timeout
            if dd.built:
                address = self._published_address(dd.boot_timeout)
                self.log(f"{dd.name} says its SSH server answers at {address} (xenstore "
                         f"{ADDRESS_KEY}), {time.monotonic() - start:.1f} s after xl create")
                if dd.published:  # the inventory gives no address: reached where it says
                    runner.retarget(reach.spec_at(self.target, address))
                # it listens: what is left is the login (at least 30 s for it)
                left = max(30.0, dd.boot_timeout - (time.monotonic() - start))
            runner.wait_reachable(timeout=left, history=self.waits)
        except HarnessError as e:
            raise HarnessError(f"{e}\n{self.driver_domain_seen_from_dom0()}") from e
        self.log(f"{dd.name} answers over SSH {time.monotonic() - start:.0f} s after xl create")

    def _published_address(self, timeout: int) -> str:
        name = self.target.driver_domain.name
        dom = self.dom0.xl.domain(name)
        if dom is None:
            raise HarnessError(f"{name} is not running (xl list)")
        start = time.monotonic()
        try:
            address = await_key(self.dom0.runner, dom.domid, ADDRESS_KEY, timeout)
        except KeyTimeout as e:
            raise wait.WaitTimeout(f"timed out after {timeout:g} s waiting for {name} to say "
                                   f"its SSH server answers ({e})") from e
        took = time.monotonic() - start
        # a watch wakes at the write; one that lands just before the watch is set is seen
        # at the loop's next turn, a second later at most (resources.xenstore.await_key)
        self.waits.append({"what": f"{name} to say in xenstore its SSH server answers",
                           "took": round(took, 3), "polls": 1, "notice_bound": 1.0,
                           "last_probe": round(took, 3)})
        return address

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

    def boot_id(self) -> str:
        return self.dom0.runner.out("cat", "/proc/sys/kernel/random/boot_id",
                                    timeout=20).strip()
