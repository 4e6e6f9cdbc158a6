"""The driver-domain setup of one target: bring it up for real, and put the host back.

Every change is made by a stage (:mod:`.stages`, :mod:`.lifecycle`) through a
:class:`~xenaccept.provision.journal.Journal` entry that knows how to undo it; restoring
(:mod:`.restore`) runs the entries last-first, each one even when an earlier one failed,
and then compares the host's state with the state found before the first change.
:class:`Setup` is the run's :class:`~xenaccept.provision.context.StageContext` with the
driver of the stages and the entry points the steps and fixtures use.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from xenaccept.errors import CheckFailed, HarnessError
from xenaccept.provision import lifecycle, outage, probe, restore
from xenaccept.provision.context import StageContext
from xenaccept.provision.persist.record import unsupported
from xenaccept.provision.stages import Stage, backend_daemon, bridge, driver_domain, guests, hide_device

BUILD: dict[Stage, Callable[[StageContext], None]] = {
    Stage.DEVICE_HIDDEN: hide_device, Stage.DRIVER_DOMAIN: driver_domain,
    Stage.BACKEND_DAEMON: backend_daemon, Stage.BRIDGE: bridge, Stage.GUESTS: guests,
    Stage.PERSISTED: lifecycle.persistent}


class Setup(StageContext):
    """Hosts of one target and the provisioning of its setup (when allowed)."""

    def __repr__(self) -> str:  # shown as a step parameter in the reports
        return f"Setup({self.target.name!r}, {'provision' if self.provision else 'check'})"

    def passthrough_unsupported(self) -> str | None:
        """Why PCI passthrough cannot work on this host (None when it can): Xen reports
        ``hvm_directio``/``pv_directio`` in virt_caps only with an IOMMU it uses."""
        caps = self.dom0.xl.virt_caps()
        if "pv_directio" not in caps and "hvm_directio" not in caps:
            return ("PCI passthrough unsupported on this host: no IOMMU in use "
                    f"(xl info virt_caps: {' '.join(sorted(caps)) or 'none'})")
        return None

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
            why = unsupported(self.dom0.runner) if self.reached == 0 else None
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
                    BUILD[s](self)
                except Exception as e:
                    self.failed = f"{s.name.lower()}: {e}"
                    raise
                self.reached = s
                self.log(f"provisioned {s.name.lower()} in {time.monotonic() - start:.1f} s")

    # -- what the steps and fixtures call (each job in its own module) ----------------
    def reboot_host(self, why: str) -> tuple[str, str]:
        return lifecycle.reboot_host(self, why)

    def restart_driver_domain(self) -> float:
        return lifecycle.restart_driver_domain(self)

    def kill_driver_domain(self, moving: Callable[[], tuple[list[str], int | None]] | None
                           = None) -> outage.Outage:
        return outage.killed(self, moving)

    def crash_driver_domain(self) -> outage.Outage:
        return outage.crashed(self)

    def guest_started_while_devd_down(self, guest: str) -> outage.LateDaemon:
        return outage.guest_started_while_devd_down(self, guest)

    def plug_probe(self, timeout: float = 90.0) -> tuple[str, int, str]:
        return probe.plug_probe(self, timeout)

    def unplug_probe(self, guest: str, devid: int) -> None:
        probe.unplug_probe(self, guest, devid)

    def adopt_kept(self) -> list[str]:
        return restore.adopt_kept(self)

    def restore(self) -> list[str]:
        return restore.restore(self)
