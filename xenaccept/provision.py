"""The driver-domain setup of one target: bring it up for real, and put the host back.

Every change is made through a :class:`Journal` entry that knows how to undo it; restoring
runs the entries last-first, each one even when an earlier one failed, and then compares the
host's state with the state found before the first change.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from . import wait
from .bridge import Bridge
from .errors import CheckFailed, HarnessError
from .host import Host
from .inventory import Target
from .runner import Runner
from .ssh import SSHRunner
from .xl import render_config

MARKER = "# written by xenaccept"


class Stage(enum.IntEnum):
    """The setup, in the order it is built."""

    DEVICE_HIDDEN = 1
    DRIVER_DOMAIN = 2
    BACKEND_DAEMON = 3
    BRIDGE = 4
    GUESTS = 5


@dataclass
class Undo:
    what: str
    action: Callable[[], object]


@dataclass
class Journal:
    entries: list[Undo] = field(default_factory=list)
    log: Callable[[str], None] = print

    def push(self, what: str, action: Callable[[], object]) -> None:
        """Remember how to undo a change; a change already remembered (the same ``what``, as
        when a restarted driver domain gets its bridge again) is not undone twice."""
        if all(u.what != what for u in self.entries):
            self.entries.append(Undo(what, action))

    def unwind(self) -> list[str]:
        """Undo everything, last first; returns the errors (it never stops half-way)."""
        errors = []
        while self.entries:
            undo = self.entries.pop()
            try:
                self.log(f"restore: {undo.what}")
                undo.action()
            except BaseException as e:  # noqa: BLE001 - a Ctrl-C must not skip the rest
                errors.append(f"{undo.what}: {type(e).__name__}: {e}")
        return errors


@dataclass(frozen=True)
class HostState:
    """What the suite may change on Dom0, to compare before and after a run."""

    device_driver: str | None
    domains: tuple[str, ...]
    files: tuple[str, ...]

    def diff(self, other: HostState) -> list[str]:
        out = []
        for name in ("device_driver", "domains", "files"):
            a, b = getattr(self, name), getattr(other, name)
            if a != b:
                out.append(f"{name}: before {a!r}, after {b!r}")
        return out


def _until_forwarding(br: Bridge, port: str, *, timeout: float, what: str) -> None:
    """Wait for ``port`` to forward on ``br``, one `bridge -j link` a poll. Enslaved is not
    enough: a port forwards once its link is up (the bridge up; for a guest's vif, once
    its netfront has connected, about 10 s after enslavement on Linux 6.12)."""
    wait.until(lambda: br.port_states().get(port) == "forwarding", timeout=timeout,
               what=f"{what} and forwarding", last_seen=lambda: f"ports {br.port_states()}")


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
        existing = [p for p in self.config_paths() if self.dom0.file_exists(p)]
        return HostState(self.dom0.pci(self.bdf).driver,
                         tuple(sorted(d.name for d in self.dom0.xl.domains())),
                         tuple(existing))

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
        steps = {Stage.DEVICE_HIDDEN: self._hide_device, Stage.DRIVER_DOMAIN: self._driver_domain,
                 Stage.BACKEND_DAEMON: self._backend_daemon, Stage.BRIDGE: self._bridge,
                 Stage.GUESTS: self._guests}
        for s in Stage:
            if s > stage:
                break
            if s > self.reached:
                if self.failed is not None:
                    raise HarnessError(f"not provisioned: an earlier stage failed "
                                       f"({self.failed})")
                start = time.monotonic()
                try:
                    steps[s]()
                except Exception as e:
                    self.failed = f"{s.name.lower()}: {e}"
                    raise
                self.reached = s
                self.log(f"provisioned {s.name.lower()} in {time.monotonic() - start:.1f} s")

    def _hide_device(self) -> None:
        dev = self.dom0.pci(self.bdf)
        if not dev.exists:
            raise CheckFailed("device", f"PCI device {self.bdf} in Dom0", "no such device")
        if dev.driver == "pciback":
            self.log(f"{self.bdf} already on pciback (hidden at boot or before): left as found")
            return
        self.dom0.xl.assignable_add(self.bdf)
        self.journal.push(f"give {self.bdf} back to {self.device_found_driver or 'no driver'}",
                          lambda: self.dom0.xl.assignable_remove(self.bdf, rebind=True))

    def _write_config(self, domain: str, items: dict[str, str | int | list[str]]) -> str:
        path = self.target.config_path(domain)
        old = self.dom0.read(path)
        if old is not None and MARKER not in old:
            raise HarnessError(f"{path} exists in Dom0 and was not written by this suite: "
                               "refusing to overwrite it (move it away, or run in check mode)")
        self.dom0.runner.write_file(path, render_config(items))
        self.journal.push(f"remove {path}",
                          lambda: self.dom0.runner.run("rm", "-f", path, mutates=True, check=True))
        return path

    def _create(self, domain: str, path: str) -> None:
        if self.dom0.xl.domain(domain) is not None:
            raise HarnessError(f"a domain named {domain} already runs and this run did not start "
                               "it: destroy it first, or check it with check mode")
        self.journal.push(f"destroy {domain}", lambda: self._destroy(domain))
        self.dom0.xl.create(path)
        self.started.append(domain)

    def _destroy(self, domain: str) -> None:
        if self.dom0.xl.domain(domain) is not None:
            self.dom0.xl.destroy(domain)
        wait.until(lambda: self.dom0.xl.domain(domain) is None, timeout=60,
                   what=f"{domain} to be gone")

    def _driver_domain(self) -> None:
        dd = self.target.driver_domain
        path = self._write_config(dd.name, {
            "name": dd.name, "type": "pv", "kernel": dd.kernel, "ramdisk": dd.ramdisk,
            "extra": dd.extra, "memory": dd.memory, "vcpus": dd.vcpus, "disk": [dd.disk],
            "pci": [self.bdf], "driver_domain": 1,
        })
        self._create(dd.name, path)
        runner = self.drvdom.runner
        if isinstance(runner, SSHRunner):
            took = runner.wait_reachable(timeout=self.target.driver_domain.boot_timeout)
            self.log(f"{dd.name} answers over SSH {took:.0f} s after xl create")

    def _backend_daemon(self) -> None:
        hp = self.drvdom.hotplug
        if hp.devd_pids():
            self.log("xl devd already runs in the driver domain: left as found")
            return
        xl = hp.xl_path()
        if xl is None:
            raise CheckFailed("backend daemon", "xl installed in the driver domain", "no xl")
        unit = "xenaccept-xldevd"
        r = self.drvdom.runner
        r.run("systemd-run", "--quiet", "--collect", f"--unit={unit}", xl, "devd", "-F",
              mutates=True, check=True)
        self.journal.push(f"stop xl devd ({unit}) in {self.target.driver_domain.name}",
                          lambda: self._stop_unit(unit))
        wait.until(hp.devd_pids, timeout=30, what="xl devd to run in the driver domain")

    def _stop_unit(self, unit: str) -> None:
        self._unless_started(lambda: self.drvdom.runner.run("systemctl", "stop", unit,
                                                            mutates=True))

    def _unless_started(self, undo: Callable[[], object]) -> None:
        """Undo a change inside the driver domain, unless this run started that domain:
        then destroying it (a later journal entry) takes the change with it."""
        if self.target.driver_domain.name not in self.started:
            undo()

    def _bridge(self) -> None:
        br = self.drvdom.bridge(self.target.bridge)
        nic = self.target.driver_domain.nic
        if br.exists:
            self.log(f"bridge {br.name} already exists: left as found")
            return
        br.create_with(nic)
        self.journal.push(f"remove bridge {br.name} in {self.target.driver_domain.name}",
                          lambda: self._unless_started(lambda: br.remove(nic)))
        _until_forwarding(br, nic, timeout=60, what=f"{nic} enslaved to {br.name}")

    def _guests(self) -> None:
        t = self.target
        for i, name in enumerate(t.guests.names):
            path = self._write_config(name, {
                "name": name, "type": "pv", "kernel": t.guests.kernel,
                "ramdisk": t.guests.ramdisk, "extra": t.guests.extra,
                "memory": t.guests.memory, "vcpus": 1,
                "vif": [f"mac={t.guests.mac(i)},bridge={t.bridge},"
                        f"backend={t.driver_domain.name}"],
            })
            self._create(name, path)
        br = self.drvdom.bridge(t.bridge)
        for name in t.guests.names:
            vif = self.vif_name(name)
            _until_forwarding(br, vif, timeout=180, what=f"{vif} of {name} enslaved to {br.name}")

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
        self._destroy(dd)
        self.started.remove(dd)
        self._create(dd, t.config_path(dd))
        runner = self.drvdom.runner
        if isinstance(runner, SSHRunner):
            runner.close()
            runner.wait_reachable(timeout=self.target.driver_domain.boot_timeout)
        self.reached = Stage.DRIVER_DOMAIN  # the new domain has no xl devd nor bridge yet
        self.ensure(Stage.BRIDGE)
        br = self.drvdom.bridge(t.bridge)
        for i, guest in enumerate(t.guests.names):
            for vif in self.dom0.xl.network_list(guest):
                self.dom0.xl.network_detach(guest, vif.devid)
            self.dom0.xl.network_attach(guest, mac=t.guests.mac(i), bridge=t.bridge, backend=dd)
        for guest in t.guests.names:
            vif = self.vif_name(guest, self.dom0.xl.network_list(guest)[0].devid)
            _until_forwarding(br, vif, timeout=180, what=f"{vif} of {guest} back on {br.name}")
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
        ours = []
        for name in (t.driver_domain.name, *t.guests.names):
            text = self.dom0.read(t.config_path(name))
            if text is not None and MARKER in text:
                ours.append(name)
        if t.driver_domain.name in ours:
            from .kernel import hidden_bdfs
            hidden_at_boot = self.bdf in hidden_bdfs(self.dom0.kernel.cmdline)
            node = f"/libxl/pci/{self.bdf.replace(':', '-').replace('.', '-')}/driver_path"
            if not hidden_at_boot and self.dom0.runner.run("xenstore-read", node).ok:
                self.journal.push(f"give {self.bdf} back to its driver",
                                  lambda: self.dom0.xl.assignable_remove(self.bdf))
        for name in ours:  # the driver domain first, so it is undone last
            path = t.config_path(name)
            self.journal.push(f"remove {path}", lambda p=path: self.dom0.runner.run(
                "rm", "-f", p, mutates=True, check=True))
            self.journal.push(f"destroy {name}", lambda n=name: self._destroy(n))
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
