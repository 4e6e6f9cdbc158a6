"""Bringing an instance up: a cold boot (SeaBIOS, GRUB from the disk, Xen, Dom0) or a
snapshot restore and its fix-ups."""
from __future__ import annotations

import sys
import time
from pathlib import Path

from . import build, flavours, inventory, qemu, remote
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
    if not snap:
        # a cold boot starts from the freshly installed disk
        qemu.qemu_img("snapshot", "-a", "base", str(ov / "dom0.qcow2"))

    ports = qemu.ports_for(load_state())
    hk = manifest["host_keys"]
    remote.write_known_hosts(c["kh"], [(ports["dom0"], hk["dom0"])])
    serial = rund / "serial.log"
    if serial.exists():
        serial.replace(rund / "serial.prev.log")
    (rund / "mon.sock").unlink(missing_ok=True)
    cmd = qemu.command(ov / "dom0.qcow2", rund, ports, loadvm=snap)
    (rund / "qemu.cmdline").write_text(" ".join(cmd) + "\n")
    boot = f"snapshot:{snap}" if snap else "cold"
    clock.log(f"starting QEMU (flavour {flavour}, Dom0 kernel {manifest['kernel_version']}, "
              f"{boot}, GRUB from the disk), Dom0 SSH on 127.0.0.1:"
              f"{ports['dom0']}, driver domain SSH on 127.0.0.1:{ports['drvdom']}")
    qemu.run(cmd, timeout=300, capture=True)
    pid = qemu.read_pid(rund)
    if not pid:
        raise LabError("QEMU did not start (no live pid in the pidfile)")
    st = {"pid": pid, "ports": ports, "started": time.time(), "boot": boot,
          "hash": c["hash"], "images": str(images), "overlays": str(ov),
          "sig": qemu.machine_sig(), "name": lab_name(),
          "flavour": flavour}
    save_state(st)

    t_start = time.monotonic()
    try:
        wait_until("Dom0 SSH and `xl info`",
                   alive_probe(pid, lambda: answers(st, "dom0", "xl info >/dev/null")),
                   deadline_s=RESTORE_DEADLINE if snap else COLD_DEADLINE, interval=3)
    except LabError as e:
        print(f"xenlab: {e}\n--- tail of {serial} ---\n{serial_tail()}", file=sys.stderr)
        for f in serial_faults():
            print(f, file=sys.stderr)
        return 1
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
    inv.write_text(inventory.render(lab_name(), ports, c["key"], c["kh"], boot, flavour))
    clock.log(f"inventory: {inv}")
    found = serial_faults()
    for f in found:
        print(f)
    rss = qemu.peak_rss_mb(pid)
    clock.log(f"lab up ({flavour}, {boot}) in {fmt_secs(clock.elapsed())}; QEMU peak RSS "
              f"so far {rss} MB; lab faults: {len(found)}")
    return 0


def post_restore(st: dict, meta: dict, clock: Clock) -> int:
    """Fix-ups after -loadvm: clocks resume at the snapshot's time. (QEMU's DHCP server
    also forgets its leases; the driver domain keeps its address, and the suite's guests use
    no DHCP, so nobody else can be handed it.)"""
    r = ssh("dom0", f"date -u -s @{int(time.time())} >/dev/null", st=st)
    clock.log(f"Dom0 clock set to the host's (rc {r.returncode})")
    if not meta.get("drvdom_running"):
        return 0
    snap = st["boot"].removeprefix("snapshot:")
    if restore_suite_keys(Path(st["overlays"]), snap, st):
        clock.log(f"the suite's keys for the snapshot's driver domain are back in "
                  f"{suite_state_dir(st)}")
    t0 = time.monotonic()
    try:
        wait_until("the driver domain's SSH",
                   alive_probe(st["pid"], lambda: answers(st, "drvdom")),
                   deadline_s=DRVDOM_DEADLINE, interval=2)
    except LabError as e:
        print(f"xenlab: {e}", file=sys.stderr)
        return 1
    clock.log(f"driver domain answers over SSH ({time.monotonic() - t0:.1f}s later)")
    r = ssh("drvdom", f"date -u -s @{int(time.time())} >/dev/null", st=st)
    clock.log(f"driver domain clock set to the host's (rc {r.returncode})")
    return 0


