"""Bringing an instance up: a cold boot (SeaBIOS, GRUB from the disk, Xen, Dom0) or a
snapshot restore and its fix-ups."""
from __future__ import annotations

import shlex
import sys
import time
from pathlib import Path

from . import build, console, flavours, inventory, qemu, remote
from .common import Clock, LabError, fmt_secs, lab_name, run_dir, wait_until
from .instance import (alive_probe, answers, ctx, load_state, save_state, serial_faults,
                       serial_tail, ssh, state_flavour, suite_state_dir)
from .overlays import ensure_overlays
from .snapshots import load_snapmeta, restore_suite_keys, save_snapshot, snapshot_problem

COLD_DEADLINE = 900        # Xen + Dom0 to SSH: 72-84 s measured, TCG under load is slower
RESTORE_DEADLINE = 180
DRVDOM_DEADLINE = 240


def up(from_name: str | None, cold: bool, flavour: str = flavours.DEFAULT) -> int:
    clock = Clock()
    rund = run_dir()
    rund.mkdir(parents=True, exist_ok=True)
    if qemu.read_pid(rund):
        st = load_state()
        if state_flavour(st) != flavour:
            raise LabError(f"lab {lab_name()!r} is up with flavour {state_flavour(st)!r}, "
                           f"not {flavour!r}: `lab/xenlab down` first")
        print(f"xenlab: lab {lab_name()!r} is already up (pid {st and st['pid']}, flavour "
              f"{flavour}); `lab/xenlab down` first to reboot it")
        return 0 if st and answers(st, "dom0") else 1
    c = ctx(flavour)
    images = build.build(flavour=flavour)
    manifest = build.load_manifest(c["hash"])
    ov = ensure_overlays(images, c["hash"], flavour)

    # which boot: snapshot (asked for, or `fresh` by default) or cold
    snap = None
    if from_name:
        why = snapshot_problem(ov, images, from_name)
        if why:
            clock.log(f"{why}: falling back to a cold boot")
        else:
            snap = from_name
    elif not cold:
        if snapshot_problem(ov, images, "fresh") is None:
            snap = "fresh"
            clock.log("using the valid snapshot 'fresh' (use --cold to force a cold boot)")
    meta = load_snapmeta(ov).get(snap, {}) if snap else {}
    ports = qemu.ports_for(load_state())
    hk = manifest["host_keys"]
    remote.write_known_hosts(c["kh"], [(ports["dom0"], hk["dom0"])])
    boot = f"snapshot:{snap}" if snap else "cold"
    st: dict = {}
    for attempt in (1, 2):
        if not snap:
            # a cold boot starts from the freshly installed disk (again, after a stuck one)
            qemu.qemu_img("snapshot", "-a", "base", str(ov / "dom0.qcow2"))
        st = _start(ov, ports, snap, boot, c, images, flavour, manifest, clock)
        what = f"{boot} boot of lab {lab_name()!r}" + (" (retried)" if attempt > 1 else "")
        try:
            watched_wait(what, rund, st["pid"], lambda: answers(st, "dom0", _dom0_probe(snap)),
                         deadline_s=RESTORE_DEADLINE if snap else COLD_DEADLINE,
                         wait_for="Dom0 SSH and `xl info`", clock=clock)
            break
        except StuckBoot as e:
            record_stuck(e.stuck)
            if attempt == 1:
                clock.log("retrying the boot once (a stuck boot is a lab fault, not the host's)")
                continue
            print("xenlab: the boot was stuck twice: giving up", file=sys.stderr)
            return 1
        except LabError as e:
            print(f"xenlab: {e}\n--- tail of {rund / 'serial.log'} ---\n{serial_tail()}",
                  file=sys.stderr)
            for f in serial_faults():
                print(f, file=sys.stderr)
            return 1
    t_start = st["t_start"]
    st.pop("t_start")
    st["dom0_ssh_seconds"] = round(time.monotonic() - t_start, 1)
    clock.log(f"Dom0 answers over SSH, `xl info` works: {st['dom0_ssh_seconds']}s after "
              f"QEMU start")
    if snap:
        rc = post_restore(st, meta, clock)
        if rc:
            return rc
    elif snapshot_problem(ov, images, "fresh") is not None:
        save_snapshot("fresh", st, clock)
    save_state(st)
    inv = rund / "inventory.yaml"
    inv.write_text(inventory.render(lab_name(), ports, c["key"], c["kh"], boot, flavour,
                                    rund / "serial.log"))
    clock.log(f"inventory: {inv}")
    found = serial_faults()
    for f in found:
        print(f)
    rss = qemu.peak_rss_mb(st["pid"])
    clock.log(f"lab up ({flavour}, {boot}) in {fmt_secs(clock.elapsed())}; QEMU peak RSS "
              f"so far {rss} MB; lab faults: {len(found)}")
    return 0


def _start(ov: Path, ports: dict, snap: str | None, boot: str, c: dict, images: Path,
           flavour: str, manifest: dict, clock: Clock) -> dict:
    """QEMU started on the instance's overlay (the console of an earlier boot kept as
    serial.prev.log); the instance's state saved."""
    rund = run_dir()
    serial = rund / "serial.log"
    if serial.exists():
        serial.replace(rund / "serial.prev.log")
    (rund / "mon.sock").unlink(missing_ok=True)
    cmd = qemu.command(ov / "dom0.qcow2", rund, ports, loadvm=snap)
    (rund / "qemu.cmdline").write_text(" ".join(cmd) + "\n")
    clock.log(f"starting QEMU (flavour {flavour}, Dom0 kernel {manifest['kernel_version']}, "
              f"{boot}, GRUB from the disk), Dom0 SSH on 127.0.0.1:"
              f"{ports['dom0']}, driver domain SSH on 127.0.0.1:{ports['drvdom']}")
    t_start = time.monotonic()
    qemu.run(cmd, timeout=300, capture=True)
    pid = qemu.read_pid(rund)
    if not pid:
        raise LabError("QEMU did not start (no live pid in the pidfile)")
    st = {"pid": pid, "ports": ports, "started": time.time(), "boot": boot,
          "hash": c["hash"], "images": str(images), "overlays": str(ov),
          "sig": qemu.machine_sig(), "name": lab_name(),
          "flavour": flavour}
    save_state(st)
    return st | {"t_start": t_start}


def record_stuck(stuck: console.Stuck) -> None:
    """A stuck boot is a lab fault: said now, and kept for `lab/xenlab faults` (which the
    lab tests run at their end) in run/<name>/stuck-boots.log."""
    report = stuck.report()
    print(report, file=sys.stderr, flush=True)
    with open(run_dir() / "stuck-boots.log", "a") as f:
        f.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S%z')} {report}\n")


class StuckBoot(LabError):
    def __init__(self, stuck: console.Stuck) -> None:
        super().__init__(stuck.report())
        self.stuck = stuck


def watched_wait(what: str, rund: Path, pid: int, answered, *, deadline_s: float,
                 wait_for: str, clock: Clock, interval: float = 2) -> None:
    """Wait for ``answered()`` while a BootWatch watches the console: a console silent for
    console.SILENCE_S while Dom0 does not answer stops QEMU (its console kept as
    serial.stuck-<n>.log) and raises StuckBoot, in seconds rather than at the deadline."""
    serial = rund / "serial.log"

    def diagnose() -> str:
        return console.vcpu_report(qemu.monitor_cmd(rund, "info status", timeout=10),
                                   qemu.monitor_cmd(rund, "info registers -a", timeout=10))

    watch = console.BootWatch(what, serial, diagnose, lambda: qemu.stop(rund)).start()

    def probe():
        if watch.stuck is not None:
            raise LabError("stuck")
        return alive_probe(pid, answered)()
    try:
        wait_until(wait_for, probe, deadline_s=deadline_s, interval=interval)
    except LabError:
        if watch.stuck is None:
            raise
    finally:
        watch.done()
    if watch.stuck is not None:
        n = 1 + len(list(rund.glob("serial.stuck-*.log")))
        kept = rund / f"serial.stuck-{n}.log"
        serial.replace(kept)
        watch.stuck.serial = kept
        raise StuckBoot(watch.stuck)
    clock.log(f"{wait_for}: the console's longest silence was "
              f"{watch.longest_silence_s:.1f} s (stuck at {console.SILENCE_S:.0f} s)")


def _clock() -> str:
    """A command that sets a restored domain's clock to this machine's (it resumes at the
    snapshot's time), made at the moment it is sent."""
    return f"date -u -s @{int(time.time())} >/dev/null"


def _dom0_probe(snap: str | None) -> str:
    """Dom0 answers and its toolstack works; after a restore, the clock is set by the same
    command (one login fewer)."""
    return f"{_clock()} && xl info >/dev/null" if snap else "xl info >/dev/null"


def post_restore(st: dict, meta: dict, clock: Clock) -> int:
    """Fix-ups after -loadvm (Dom0's clock was set by the probe that found it): the driver
    domain's clock, then the domains the snapshot was saved with paused are let run. QEMU's
    DHCP server forgets its leases on restore: the guests are saved paused so that none
    asks before the driver domain has come back (a guest renewing first would be handed
    the driver domain's address, where the SSH port forward points); the driver domain and
    the guests keep their leases, a day long, so none asks again during a run."""
    clock.log("Dom0 clock set to the host's (with the probe that found it)")
    if meta.get("drvdom_running"):
        snap = st["boot"].removeprefix("snapshot:")
        if restore_suite_keys(Path(st["overlays"]), snap, st):
            clock.log(f"the suite's keys for the snapshot's driver domain are back in "
                      f"{suite_state_dir(st)}")
        t0 = time.monotonic()
        try:  # the probe that finds it sets its clock
            wait_until("the driver domain's SSH",
                       alive_probe(st["pid"], lambda: answers(st, "drvdom", _clock())),
                       deadline_s=DRVDOM_DEADLINE, interval=2)
        except LabError as e:
            print(f"xenlab: {e}", file=sys.stderr)
            return 1
        clock.log(f"driver domain answers over SSH, its clock set to the host's "
                  f"({time.monotonic() - t0:.1f}s later)")
    paused = meta.get("paused", [])
    if paused:
        r = ssh("dom0", " && ".join(f"xl unpause {shlex.quote(d)}" for d in paused), st=st)
        if r.returncode != 0:
            print(f"xenlab: xl unpause in Dom0 failed: {r.stderr.strip()}", file=sys.stderr)
            return 1
        clock.log(f"unpaused {', '.join(paused)} (saved paused)")
    return 0
