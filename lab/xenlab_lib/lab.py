"""The lab's commands other than bringing it up and snapshots: down, status, ssh, faults."""
from __future__ import annotations

import time

from . import build, faults, flavours, inventory, qemu, remote
from .common import LabError, fmt_secs, lab_name, run_dir
from .instance import creds, load_state, serial_faults, shown_flavour, ssh, state_flavour
from .overlays import overlay_dir
from .snapshots import load_snapmeta


def down() -> int:
    pid = qemu.read_pid(run_dir())
    if pid is None:
        print(f"xenlab: lab {lab_name()!r} is not running")
        return 0
    rss = qemu.peak_rss_mb(pid)
    qemu.stop(run_dir())
    print(f"xenlab: stopped QEMU pid {pid} (peak RSS {rss} MB); cache kept")
    return 0


def status(flavour: str | None = None) -> int:
    st = load_state()
    pid = qemu.read_pid(run_dir())
    print(f"lab: {lab_name()}  run dir: {run_dir()}")
    shown = shown_flavour(flavour)
    if pid and st and shown != state_flavour(st):
        print(f"note: the running lab is flavour {state_flavour(st)}; showing {shown}'s "
              f"images and snapshots")
    h = build.recipe_hash(shown)
    manifest = build.load_manifest(h)
    kernel = manifest["kernel_version"] if manifest else "?"
    print(f"flavour: {shown} ({flavours.spec(shown)['description']}; Dom0 kernel {kernel})")
    if pid and st:
        up_s = time.time() - st["started"]
        print(f"state: running (QEMU pid {pid}, up {fmt_secs(up_s)}, boot {st['boot']})")
        print(f"ports: dom0 ssh 127.0.0.1:{st['ports']['dom0']}, driver domain ssh "
              f"127.0.0.1:{st['ports']['drvdom']}")
        print(f"QEMU peak RSS: {qemu.peak_rss_mb(pid)} MB")
    else:
        print("state: not running")
    print(f"recipe hash: {h} (images {'built' if manifest else 'not built'})")
    ov = overlay_dir(h)
    meta = load_snapmeta(ov)
    print(f"snapshots: {', '.join(sorted(meta)) or 'none'}")
    print(f"lab faults in the serial log: {len(serial_faults())}; stuck boots: "
          f"{len(stuck_boots())}")
    return 0


def ssh_cmd(which: str, argv: list[str], timeout: float) -> int:
    st = load_state()
    if not st or not qemu.read_pid(run_dir()):
        raise LabError("the lab is not up")
    key, kh = creds(which, st)
    r = remote.ssh(st["ports"][which], key, kh, " ".join(argv) or "true", timeout=timeout,
                   capture=False, inherit_stdin=True)
    return r.returncode


def stuck_boots() -> list[str]:
    """The stuck boots `up` met (and retried) since the instance's run dir was made."""
    try:
        text = (run_dir() / "stuck-boots.log").read_text(errors="replace")
    except OSError:
        return []
    return [ln for ln in text.splitlines() if "LAB FAULT [stuck boot]" in ln]


def faults_cmd() -> int:
    found: list = stuck_boots()
    found += serial_faults()
    st = load_state()
    if st and qemu.read_pid(run_dir()):
        for src, cmd in (("dom0 dmesg", "dmesg"), ("xl dmesg", "xl dmesg"),
                         ("guest consoles", "cat /var/log/xen/console/guest-*.log "
                                            "2>/dev/null")):
            try:
                r = ssh("dom0", cmd, timeout=60, st=st)
            except LabError:
                continue
            if r.returncode == 0 or r.stdout:
                found += faults.scan_text(r.stdout, src)
        # the driver domain's journal (xl devd's hotplug timeouts land there), only when
        # Dom0 says it runs: an SSH attempt to a missing driver domain costs seconds
        try:
            running = ssh("dom0", f"xl domid {inventory.DRVDOM_NAME}", timeout=30,
                           st=st).returncode == 0
            r = ssh("drvdom", "journalctl -b --no-pager -o short", timeout=60,
                     st=st) if running else None
        except LabError:
            r = None
        if r is not None and (r.returncode == 0 or r.stdout):
            found += faults.scan_text(r.stdout, "drvdom journal")
    for f in found:
        print(f)
    print(f"{len(found)} lab fault(s)")
    return 1 if found else 0
