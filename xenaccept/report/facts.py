"""Facts about a target worth recording with every run (to compare across upgrades) and
the logs worth attaching when a checkpoint fails. Read-only."""

from __future__ import annotations

from xenaccept.errors import HarnessError
from xenaccept.names import DEVD_UNITS
from xenaccept.provision import Setup
from xenaccept.transport.runner import Runner

KERNEL_OPTIONS = ("XEN_PCIDEV_BACKEND", "XEN_NETDEV_BACKEND", "XEN_NETDEV_FRONTEND",
                  "XEN_PCIDEV_FRONTEND", "INTEL_IOMMU")


def host_facts(setup: Setup) -> dict[str, object]:
    """Versions, command lines and capabilities of Dom0 (and of the driver domain when it
    runs). Missing pieces are recorded as None, never guessed."""
    d0 = setup.dom0
    info = d0.xl.info()
    dev = d0.pci(setup.bdf)
    pkgs = d0.runner.run("dpkg-query", "-W", "-f", "${Package} ${Version}\\n",
                         "xen-hypervisor-*", "xen-utils-4*", "xen-utils-common", "linux-image-*")
    facts: dict[str, object] = {
        "target": setup.target.name,
        "xen_version": info.get("xen_version"),
        "xen_changeset": info.get("xen_changeset"),
        "xen_commandline": info.get("xen_commandline"),
        "virt_caps": sorted(info.get("virt_caps", "").split()),
        "dom0_kernel": d0.kernel.release,
        "dom0_cmdline": d0.kernel.cmdline,
        "dom0_kernel_config": d0.kernel.config(*KERNEL_OPTIONS),
        "device": {"bdf": setup.bdf,
                   "vendor_device": dev.vendor_device if dev.exists else None,
                   "dom0_driver": dev.driver if dev.exists else None},
        "packages": dict(line.split(" ", 1) for line in pkgs.stdout.splitlines()
                         if " " in line and not line.endswith(" ")) if pkgs.ok else {},
        "driver_domain_kernel": None,
        "driver_domain_kernel_config": None,
    }
    if d0.xl.domain(setup.target.driver_domain.name) is not None:
        try:
            facts["driver_domain_kernel"] = setup.drvdom.kernel.release
            facts["driver_domain_kernel_config"] = setup.drvdom.kernel.config(*KERNEL_OPTIONS)
        except HarnessError:
            pass
    return facts


def diagnostics(setup: Setup) -> dict[str, str]:
    """Logs that explain a failed checkpoint: Xen's, the toolstack's, the backend's."""
    logs: dict[str, str] = {}
    d0, dd = setup.dom0.runner, setup.drvdom.runner
    name = setup.target.driver_domain.name

    def grab(label: str, runner: Runner, *argv: str) -> None:
        try:
            r = runner.run(*argv, timeout=30)
            logs[label] = r.stdout + (f"\n[stderr]\n{r.stderr}" if r.stderr.strip() else "")
        except HarnessError as e:
            logs[label] = f"(not available: {e})"

    grab("xl dmesg (tail)", d0, "sh", "-c", "xl dmesg | tail -n 80")
    grab("xl list", d0, "xl", "list")
    grab(f"xl log of {name} (Dom0)", d0, "tail", "-n", "80", f"/var/log/xen/xl-{name}.log")
    grab("Dom0 kernel log (tail)", d0, "sh", "-c", "dmesg | tail -n 60")
    reachable = dd.reachable
    running = setup.dom0.xl.domain(name) is not None
    if running and not reachable:  # what it printed, read once a run (xl console: 4 s)
        logs[f"console of {name} (tail)"] = setup.driver_domain_seen_from_dom0()
    if running and reachable:
        grab("hotplug log (driver domain)", dd, "tail", "-n", "80",
             "/var/log/xen/xen-hotplug.log")
        grab("xl devd log (driver domain)", dd, "sh", "-c",
             "tail -n 80 /var/log/xen/xldevd.log 2>/dev/null; "
             "journalctl " + " ".join(f"-u {u}" for u in DEVD_UNITS) +
             " -n 80 --no-pager 2>/dev/null")
        grab("driver domain kernel log (tail)", dd, "sh", "-c", "dmesg | tail -n 60")
    return logs


AGAIN = "(read at an earlier failed step of this run: the suite changed nothing on the hosts since)\n"


class FailureLogs:
    """:func:`diagnostics` for each failed step, read again only when the suite changed a
    host since the last read (a command that changes a host, in the target's transcript).
    Check mode changes nothing, and a provisioning run changes nothing more once a stage
    has failed: every later failure of the run then gets the logs of the first, said so.
    (A failed fault-matrix run had 11 failed scenarios: 66 log reads, about 13 s under
    emulation; a failed provisioning run, 16.)"""

    def __init__(self) -> None:
        self._read: dict[str, tuple[int, dict[str, str]]] = {}

    def __call__(self, setup: Setup) -> dict[str, str]:
        changes = len(setup.dom0.runner.transcript.mutating())
        seen = self._read.get(setup.target.name)
        if seen is not None and seen[0] == changes:
            return {label: AGAIN + text for label, text in seen[1].items()}
        logs = diagnostics(setup)  # reads only: the count stays as it was
        self._read[setup.target.name] = (changes, logs)
        return logs
