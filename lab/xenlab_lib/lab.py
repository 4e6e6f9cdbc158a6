"""The lab's life cycle: up (cold boot or snapshot restore), down, status, ssh, faults,
snapshots."""
from __future__ import annotations

import json
import os
import shutil
import sys
import time
from pathlib import Path

from . import build, faults, flavours, inventory, qemu, remote
from .common import Clock, LabError, cache_dir, fmt_secs, lab_name, run_dir, wait_until

COLD_DEADLINE = 900        # Xen + Dom0 to SSH: 72-84 s measured, TCG under load is slower
RESTORE_DEADLINE = 180
DRVDOM_DEADLINE = 240


# ---------------------------------------------------------------- state and paths
def state_path() -> Path:
    return run_dir() / "state.json"


def load_state() -> dict | None:
    try:
        return json.loads(state_path().read_text())
    except (OSError, ValueError):
        return None


def save_state(st: dict) -> None:
    state_path().write_text(json.dumps(st, indent=2) + "\n")


def overlay_dir(h: str) -> Path:
    return cache_dir() / "labs" / lab_name() / h


def overlay_flavour(d: Path) -> str:
    """The flavour an overlay dir belongs to (file `flavour`; dirs made before flavours
    existed have none and are the default flavour's)."""
    try:
        return (d / "flavour").read_text().strip() or flavours.DEFAULT
    except OSError:
        return flavours.DEFAULT


def ensure_overlays(images: Path, h: str, flavour: str) -> Path:
    """Per-instance qcow2 overlays on the cached raw images, each with a disk-only snapshot
    `base` (= the freshly installed disk) that a cold boot reverts to. Overlays of other
    recipe hashes *of the same flavour* are stale and removed; other flavours' are kept."""
    root = cache_dir() / "labs" / lab_name()
    root.mkdir(parents=True, exist_ok=True)
    for other in root.iterdir():
        if other.name != h and other.is_dir() and overlay_flavour(other) == flavour:
            print(f"xenlab: removing overlays of an older {flavour} recipe: {other}")
            shutil.rmtree(other, ignore_errors=True)
    d = overlay_dir(h)
    if (d / "ready").is_file():
        if not (d / "flavour").is_file():
            (d / "flavour").write_text(flavour + "\n")
        return d
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir(parents=True)
    ov = d / "dom0.qcow2"
    qemu.qemu_img("create", "-q", "-f", "qcow2", "-b", str(images / "dom0.img"),
                  "-F", "raw", str(ov))
    qemu.qemu_img("snapshot", "-c", "base", str(ov))
    (d / "snapshots.json").write_text("{}\n")
    (d / "flavour").write_text(flavour + "\n")
    (d / "ready").write_text("")
    return d


def load_snapmeta(d: Path) -> dict:
    try:
        return json.loads((d / "snapshots.json").read_text())
    except (OSError, ValueError):
        return {}


def qcow_snapshots(d: Path) -> set[str]:
    cp = qemu.qemu_img("snapshot", "-l", "-U", str(d / "dom0.qcow2"))
    return {ln.split()[1] for ln in cp.stdout.splitlines()[2:] if len(ln.split()) > 2}


def snapshot_problem(d: Path, images: Path, name: str) -> str | None:
    """Why snapshot `name` cannot be loaded, or None if it can."""
    meta = load_snapmeta(d).get(name)
    if meta is None:
        return f"no snapshot {name!r} for this recipe hash"
    if meta.get("sig") != qemu.machine_sig(images, meta["hide_at_boot"]):
        return f"snapshot {name!r} was saved with another QEMU machine configuration"
    if name not in qcow_snapshots(d):
        return f"snapshot {name!r} is missing from the qcow2 overlays"
    return None


# ---------------------------------------------------------------- helpers
def _ctx(flavour: str) -> dict:
    h = build.recipe_hash(flavour)
    images = build.image_dir(h)
    return {"hash": h, "images": images, "key": images / "id_ed25519",
            "kh": run_dir() / "known_hosts", "flavour": flavour}


def state_flavour(st: dict | None) -> str:
    return (st or {}).get("flavour", flavours.DEFAULT)


def suite_state_dir(st: dict | None = None) -> Path:
    """Where the suite keeps what it made for this lab's target (xenaccept/state.py): the
    driver domain's client key and its pinned host key. The lab has no key of its own for
    the driver domain: the suite builds that domain, with keys made for the run."""
    base = os.environ.get("XENACCEPT_STATE") or os.path.join(
        os.environ.get("XDG_STATE_HOME") or os.path.expanduser("~/.local/state"), "xenaccept")
    return Path(base) / f"xenlab-{(st or {}).get('name', lab_name())}"


def _creds(which: str, st: dict) -> tuple[Path, Path]:
    if which == "dom0":
        return Path(st["images"]) / "id_ed25519", run_dir() / "known_hosts"
    d = suite_state_dir(st)
    key, kh = d / "drvdom_ed25519", d / "drvdom_known_hosts"
    if not key.is_file() or not kh.is_file():
        raise LabError(f"no key for the driver domain in {d}: the suite makes it "
                       "(`.venv/bin/pytest --provision --keep`), with a key made for the run")
    return key, kh


def _ssh(which: str, command: str, timeout: float = 60, st: dict | None = None):
    st = st or load_state()
    if not st:
        raise LabError("the lab is not up")
    key, kh = _creds(which, st)
    return remote.ssh(st["ports"][which], key, kh, command, timeout=timeout)


def _answers(st: dict, which: str, command: str = "true") -> bool:
    try:
        return _ssh(which, command, timeout=30, st=st).returncode == 0
    except LabError:
        return False


def serial_tail(n: int = 40) -> str:
    p = run_dir() / "serial.log"
    try:
        return "\n".join(p.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return "(no serial log)"


def serial_faults() -> list[faults.Fault]:
    p = run_dir() / "serial.log"
    if not p.is_file():
        return []
    return faults.scan_text(p.read_text(errors="replace"), str(p))


def _alive_probe(pid: int, inner):
    def probe():
        if qemu.read_pid(run_dir()) != pid:
            raise LabError("QEMU exited")
        return inner()
    return probe


# ---------------------------------------------------------------- up
def up(hide: bool, from_name: str | None, cold: bool,
       flavour: str = flavours.DEFAULT) -> int:
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
        return 0 if st and _answers(st, "dom0") else 1
    c = _ctx(flavour)
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
        auto = "fresh-hide" if hide else "fresh"
        if snapshot_problem(ov, images, auto) is None:
            snap = auto
            clock.log(f"using the valid snapshot {auto!r} (use --cold to force a cold boot)")
    meta = load_snapmeta(ov).get(snap, {}) if snap else {}
    if snap:
        if meta["hide_at_boot"] != hide and from_name:
            clock.log(f"note: snapshot {snap!r} was booted with hide_at_boot="
                      f"{meta['hide_at_boot']}; using that")
        hide = meta["hide_at_boot"]
    else:
        # a cold boot starts from the freshly installed disk
        qemu.qemu_img("snapshot", "-a", "base", str(ov / "dom0.qcow2"))

    ports = qemu.ports_for(load_state())
    hk = manifest["host_keys"]
    remote.write_known_hosts(c["kh"], [(ports["dom0"], hk["dom0"])])
    serial = rund / "serial.log"
    if serial.exists():
        serial.replace(rund / "serial.prev.log")
    (rund / "mon.sock").unlink(missing_ok=True)
    cmd = qemu.command(images, ov, rund, ports, hide, snap)
    (rund / "qemu.cmdline").write_text(" ".join(cmd) + "\n")
    boot = f"snapshot:{snap}" if snap else "cold"
    clock.log(f"starting QEMU (flavour {flavour}, Dom0 kernel {manifest['kernel_version']}, "
              f"{boot}, hide_at_boot={hide}), Dom0 SSH on 127.0.0.1:"
              f"{ports['dom0']}, driver domain SSH on 127.0.0.1:{ports['drvdom']}")
    qemu.run(cmd, timeout=300, capture=True)
    pid = qemu.read_pid(rund)
    if not pid:
        raise LabError("QEMU did not start (no live pid in the pidfile)")
    st = {"pid": pid, "ports": ports, "started": time.time(), "boot": boot,
          "hide_at_boot": hide, "hash": c["hash"], "images": str(images), "overlays": str(ov),
          "sig": qemu.machine_sig(images, hide), "name": lab_name(),
          "flavour": flavour}
    save_state(st)

    t_start = time.monotonic()
    try:
        wait_until("Dom0 SSH and `xl info`",
                   _alive_probe(pid, lambda: _answers(st, "dom0", "xl info >/dev/null")),
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
    else:
        auto = "fresh-hide" if hide else "fresh"
        if snapshot_problem(ov, images, auto) is not None:
            save_snapshot(auto, st, clock)
    save_state(st)
    inv = rund / "inventory.yaml"
    inv.write_text(inventory.render(lab_name(), ports, c["key"], c["kh"], boot, hide, flavour))
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
    r = _ssh("dom0", f"date -u -s @{int(time.time())} >/dev/null", st=st)
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
                   _alive_probe(st["pid"], lambda: _answers(st, "drvdom")),
                   deadline_s=DRVDOM_DEADLINE, interval=2)
    except LabError as e:
        print(f"xenlab: {e}", file=sys.stderr)
        return 1
    clock.log(f"driver domain answers over SSH ({time.monotonic() - t0:.1f}s later)")
    r = _ssh("drvdom", f"date -u -s @{int(time.time())} >/dev/null", st=st)
    clock.log(f"driver domain clock set to the host's (rc {r.returncode})")
    return 0


# ---------------------------------------------------------------- snapshots
def save_snapshot(name: str, st: dict | None = None, clock: Clock | None = None) -> int:
    clock = clock or Clock()
    st = st or load_state()
    if not st or not qemu.read_pid(run_dir()):
        raise LabError("the lab is not up")
    r = _ssh("dom0", "xl list | awk 'NR > 1 {print $1}'", st=st)
    if r.returncode != 0:
        raise LabError(f"`xl list` in Dom0 failed: {r.stderr}")
    domains = r.stdout.split()
    clock.log(f"savevm {name} (domains: {', '.join(domains)})")
    t0 = time.monotonic()
    out = qemu.monitor_cmd(run_dir(), f"savevm {name}", timeout=600)
    if "rror" in out:
        raise LabError(f"savevm {name}: {out}")
    ov = Path(st["overlays"])
    meta = load_snapmeta(ov)
    meta[name] = {"sig": st["sig"], "hide_at_boot": st["hide_at_boot"], "domains": domains,
                  "drvdom_running": "drvdom" in domains,
                  "saved": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    (ov / "snapshots.json").write_text(json.dumps(meta, indent=2) + "\n")
    keep_suite_keys(ov, name, st)
    clock.log(f"snapshot {name!r} saved in {time.monotonic() - t0:.1f}s")
    return 0


SUITE_KEY_FILES = ("drvdom_ed25519", "drvdom_ed25519.pub", "drvdom_known_hosts")


def keep_suite_keys(ov: Path, name: str, st: dict) -> None:
    """A snapshot holds the driver domain the suite built, so it keeps the keys the suite
    made for it (the client key, the pinned host key): later runs make new ones."""
    src, dst = suite_state_dir(st), ov / f"suite-keys-{name}"
    shutil.rmtree(dst, ignore_errors=True)
    if all((src / f).is_file() for f in SUITE_KEY_FILES):
        dst.mkdir(mode=0o700)
        for f in SUITE_KEY_FILES:
            shutil.copy2(src / f, dst / f)


def restore_suite_keys(ov: Path, name: str, st: dict) -> bool:
    """Put back the keys of the driver domain a snapshot holds; the pin names the
    driver domain's port of this boot."""
    src, dst = ov / f"suite-keys-{name}", suite_state_dir(st)
    if not src.is_dir():
        return False
    dst.mkdir(parents=True, exist_ok=True, mode=0o700)
    for f in SUITE_KEY_FILES:
        shutil.copy2(src / f, dst / f)
    kind, key = (dst / "drvdom_known_hosts").read_text().split()[1:3]
    (dst / "drvdom_known_hosts").write_text(
        f"[127.0.0.1]:{st['ports']['drvdom']} {kind} {key}\n")
    return True


def _shown_flavour(asked: str | None) -> str:
    """status/snapshot list: the running lab's flavour, else the one asked for."""
    st = load_state()
    if st and qemu.read_pid(run_dir()) and not asked:
        return state_flavour(st)
    return flavours.resolve(asked)


def list_snapshots(flavour: str | None = None) -> int:
    c = _ctx(_shown_flavour(flavour))
    ov = overlay_dir(c["hash"])
    if not (ov / "ready").is_file():
        print(f"no overlays (and so no snapshots) for flavour {c['flavour']} "
              f"(recipe hash {c['hash']})")
        return 0
    meta = load_snapmeta(ov)
    for name in sorted(meta):
        why = snapshot_problem(ov, c["images"], name)
        m = meta[name]
        print(f"{name:16} saved {m['saved']}  hide_at_boot={m['hide_at_boot']}  domains="
              f"{','.join(m['domains'])}  {'valid' if why is None else 'STALE: ' + why}")
    return 0


# ---------------------------------------------------------------- other commands
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
    shown = _shown_flavour(flavour)
    if pid and st and shown != state_flavour(st):
        print(f"note: the running lab is flavour {state_flavour(st)}; showing {shown}'s "
              f"images and snapshots")
    h = build.recipe_hash(shown)
    manifest = build.load_manifest(h)
    kernel = manifest["kernel_version"] if manifest else "?"
    print(f"flavour: {shown} ({flavours.spec(shown)['description']}; Dom0 kernel {kernel})")
    if pid and st:
        up_s = time.time() - st["started"]
        print(f"state: running (QEMU pid {pid}, up {fmt_secs(up_s)}, boot {st['boot']}, "
              f"hide_at_boot={st['hide_at_boot']})")
        print(f"ports: dom0 ssh 127.0.0.1:{st['ports']['dom0']}, driver domain ssh "
              f"127.0.0.1:{st['ports']['drvdom']}")
        print(f"QEMU peak RSS: {qemu.peak_rss_mb(pid)} MB")
    else:
        print("state: not running")
    print(f"recipe hash: {h} (images {'built' if manifest else 'not built'})")
    ov = overlay_dir(h)
    meta = load_snapmeta(ov)
    print(f"snapshots: {', '.join(sorted(meta)) or 'none'}")
    print(f"lab faults in the serial log: {len(serial_faults())}")
    return 0


def ssh_cmd(which: str, argv: list[str], timeout: float) -> int:
    st = load_state()
    if not st or not qemu.read_pid(run_dir()):
        raise LabError("the lab is not up")
    key, kh = _creds(which, st)
    r = remote.ssh(st["ports"][which], key, kh, " ".join(argv) or "true", timeout=timeout,
                   capture=False, inherit_stdin=True)
    return r.returncode


def faults_cmd() -> int:
    found = serial_faults()
    st = load_state()
    if st and qemu.read_pid(run_dir()):
        for src, cmd in (("dom0 dmesg", "dmesg"), ("xl dmesg", "xl dmesg"),
                         ("guest consoles", "cat /var/log/xen/console/guest-*.log "
                                            "2>/dev/null")):
            try:
                r = _ssh("dom0", cmd, timeout=60, st=st)
            except LabError:
                continue
            if r.returncode == 0 or r.stdout:
                found += faults.scan_text(r.stdout, src)
        # the driver domain's journal (xl devd's hotplug timeouts land there), only when
        # Dom0 says it runs: an SSH attempt to a missing driver domain costs seconds
        try:
            running = _ssh("dom0", f"xl domid {inventory.DRVDOM_NAME}", timeout=30,
                           st=st).returncode == 0
            r = _ssh("drvdom", "journalctl -b --no-pager -o short", timeout=60,
                     st=st) if running else None
        except LabError:
            r = None
        if r is not None and (r.returncode == 0 or r.stdout):
            found += faults.scan_text(r.stdout, "drvdom journal")
    for f in found:
        print(f)
    print(f"{len(found)} lab fault(s)")
    return 1 if found else 0
