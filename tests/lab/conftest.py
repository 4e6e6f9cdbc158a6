"""The lab as a fixture: booted in the mode a test needs, stopped at the end of the session.

Tests here run the acceptance suite as an operator would (``pytest --provision`` in the
repository) and look at the lab's Dom0 themselves, through the same library.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from xenaccept.model import inventory
from xenaccept.model.target import Target
from xenaccept.transport.ssh import SSHRunner

ROOT = Path(__file__).resolve().parents[2]
XENLAB = ROOT / "lab" / "xenlab"
INVENTORY = inventory.lab_inventory(ROOT)


def xenlab(*args: str, timeout: float = 3600) -> subprocess.CompletedProcess[str]:
    print(f"$ lab/xenlab {' '.join(args)}", flush=True)
    p = subprocess.run([sys.executable, str(XENLAB), *args], cwd=ROOT, text=True,
                       capture_output=True, timeout=timeout)
    print(p.stdout[-4000:], p.stderr[-4000:], sep="\n", flush=True)
    return p


DEFAULT_FLAVOUR = "bookworm"
RUNS: dict[str, Path] = {}  # name -> the run.json a run_suite() of this session wrote


@dataclass
class Lab:
    mode: str            # "fresh", "snapshot:NAME" or "changed" (by a test: booted again)
    target: Target
    up_seconds: float
    flavour: str = DEFAULT_FLAVOUR

    def dom0(self) -> SSHRunner:
        return SSHRunner("dom0", self.target.dom0, read_only=True)


class LabManager:
    def __init__(self) -> None:
        self.current: Lab | None = None

    def get(self, mode: str, flavour: str = DEFAULT_FLAVOUR) -> Lab:
        """The lab in ``mode``: "fresh" or "snapshot:NAME", booted with ``flavour`` (the
        same lab instance, other images)."""
        if self.current is not None and (self.current.mode, self.current.flavour) \
                == (mode, flavour):
            return self.current
        return self.boot(mode, flavour)

    def boot(self, mode: str, flavour: str = DEFAULT_FLAVOUR) -> Lab:
        """Boot (or restore) the lab in ``mode``, even if it is up in that mode already."""
        xenlab("down", timeout=120)
        self.current = None
        start = time.monotonic()
        args = [] if mode == "fresh" else ["--from", mode.removeprefix("snapshot:")]
        p = xenlab("up", "--flavour", flavour, *args)
        if p.returncode != 0:
            pytest.fail(f"lab/xenlab up failed (exit {p.returncode}):\n{p.stdout[-3000:]}\n"
                        f"{p.stderr[-3000:]}", pytrace=False)
        [target] = inventory.load(INVENTORY)
        self.current = Lab(mode, target, time.monotonic() - start, flavour)
        return self.current  # guests saved paused are let run by `up` (see save)

    def _guests(self, action: str) -> None:
        """Pause or unpause the guests (every domain but Dom0 and the driver domain).

        A snapshot is saved with the guests paused, and `lab/xenlab up --from` unpauses
        them only after the restore's fix-ups: QEMU's DHCP server forgets its leases on
        restore, and a guest renewing first would be handed the driver domain's address
        (where the SSH port forward points). Paused, they cannot ask before the driver
        domain has re-registered.
        """
        assert self.current is not None
        t = self.current.target
        dom0 = SSHRunner("dom0", t.dom0, read_only=False)
        try:
            names = [line.split()[0] for line in dom0.out("xl", "list").splitlines()[1:]
                     if line.strip()]
            for name in names:
                if name not in ("Domain-0", t.driver_domain.name):
                    r = dom0.run("xl", action, name, mutates=True)
                    print(f"xl {action} {name}: exit {r.exit_status}")
        finally:
            dom0.close()

    def save(self, name: str) -> None:
        self._guests("pause")
        try:
            p = xenlab("snapshot", "save", name, timeout=900)
        finally:
            self._guests("unpause")
        assert p.returncode == 0, p.stdout + p.stderr

    def stop(self) -> None:
        if self.current is not None:
            faults = xenlab("faults", timeout=120)
            xenlab("down", timeout=120)
            self.current = None
            if faults.returncode != 0:
                print(f"LAB FAULTS (not checkpoint failures):\n{faults.stdout}")


@pytest.fixture(scope="session")
def labs() -> Iterator[LabManager]:
    manager = LabManager()
    try:
        yield manager
    finally:
        manager.stop()


@pytest.fixture
def lab(labs: LabManager) -> Lab:
    """The lab as a freshly installed Xen host (the NIC on its native driver)."""
    return labs.get("fresh")


@dataclass
class SuiteRun:
    returncode: int
    output: str
    outcomes: dict[str, str]      # scenario test name -> passed/failed/error/skipped
    messages: dict[str, str]      # scenario test name -> failure message
    transcript: str


def run_suite(*args: str, name: str, timeout: float = 1800,
              inventory: Path = INVENTORY) -> SuiteRun:
    """Run the acceptance suite as an operator types it, in the repository."""
    junit = ROOT / "reports" / f"junit-{name}.xml"
    cmd = [sys.executable, "-m", "pytest", f"--inventory={inventory}", f"--junitxml={junit}",
           *args]
    print("$", " ".join(cmd), flush=True)
    transcript = ROOT / "reports" / "transcript.txt"
    transcript.unlink(missing_ok=True)
    junit.unlink(missing_ok=True)
    started = time.time()
    p = subprocess.run(cmd, cwd=ROOT, text=True, capture_output=True, timeout=timeout)
    print(p.stdout[-6000:], p.stderr[-2000:], sep="\n", flush=True)
    outcomes, messages = parse_junit(junit)
    text = transcript.read_text() if transcript.exists() else ""
    # kept apart: the suite's next run clears reports/transcript*.txt
    kept = ROOT / "reports" / "lab-runs"
    kept.mkdir(parents=True, exist_ok=True)
    (kept / f"transcript-{name}.txt").write_text(text)
    record = ROOT / "reports" / "run.json"
    if record.exists() and record.stat().st_mtime >= started:
        RUNS[name] = ROOT / "reports" / f"run-{name}.json"
        RUNS[name].write_bytes(record.read_bytes())
    return SuiteRun(p.returncode, p.stdout + p.stderr, outcomes, messages, text)


def parse_junit(path: Path) -> tuple[dict[str, str], dict[str, str]]:
    import xml.etree.ElementTree as ET
    outcomes: dict[str, str] = {}
    messages: dict[str, str] = {}
    if not path.exists():
        return outcomes, messages
    for case in ET.parse(path).getroot().iter("testcase"):
        name = case.get("name", "")
        outcome = "passed"
        for kind in ("failure", "error", "skipped"):
            el = case.find(kind)
            if el is not None:
                outcome = {"failure": "failed"}.get(kind, kind)
                messages[name] = el.get("message", "") or (el.text or "")[:2000]
                break
        # a teardown error is reported as a second testcase element with the same name
        if outcomes.get(name, "passed") == "passed":
            outcomes[name] = outcome
    return outcomes, messages


def dom0_state(lab: Lab) -> dict[str, object]:
    """What a run may change on Dom0, read independently of the suite's own bookkeeping."""
    r = lab.dom0()
    bdf = lab.target.device.bdf
    try:
        state = {
            "driver": r.run("readlink", f"/sys/bus/pci/devices/{bdf}/driver").stdout.strip(),
            "domains": sorted(line.split()[0] for line in
                              r.out("xl", "list").splitlines()[1:] if line.strip()),
            "etc_xen": sorted(r.out("ls", "-1", "/etc/xen").split()),
            "pciback_slots": r.run("cat", "/sys/bus/pci/drivers/pciback/slots").stdout.strip(),
            "interfaces": sorted(r.out("ls", "-1", "/sys/class/net").split()),
            # nothing the suite built is left on Dom0's disk, no module it loaded stays
            "var_lib": sorted(r.out("ls", "-1", "/var/lib").split()),
            "pciback_loaded": r.run("test", "-d", "/sys/module/xen_pciback").ok,
            # domains Debian's xendomains saved at a shutdown (a reboot creates the dir)
            "xen_saved": r.run("sh", "-c", "ls -A /var/lib/xen/save 2>/dev/null; true").stdout.split(),
        }
    finally:
        r.close()
    return state


def dump(obj: object) -> str:
    return json.dumps(obj, indent=1, sort_keys=True)
