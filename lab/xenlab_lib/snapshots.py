"""Snapshots (savevm in the qcow2 overlay): saved, listed, checked before a restore; each
keeps the suite's keys of the driver domain it holds."""
from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

from . import qemu
from .common import Clock, LabError, run_dir
from .instance import ctx, load_state, shown_flavour, ssh, suite_state_dir
from .overlays import overlay_dir


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
    if meta.get("sig") != qemu.machine_sig():
        return f"snapshot {name!r} was saved with another QEMU machine configuration"
    if name not in qcow_snapshots(d):
        return f"snapshot {name!r} is missing from the qcow2 overlays"
    return None



def save_snapshot(name: str, st: dict | None = None, clock: Clock | None = None) -> int:
    clock = clock or Clock()
    st = st or load_state()
    if not st or not qemu.read_pid(run_dir()):
        raise LabError("the lab is not up")
    r = ssh("dom0", "xl list | awk 'NR > 1 {print $1, $5}'", st=st)
    if r.returncode != 0:
        raise LabError(f"`xl list` in Dom0 failed: {r.stderr}")
    listed = [line.split() for line in r.stdout.splitlines() if line.strip()]
    domains = [d[0] for d in listed]
    # let run again after a restore (`up` unpauses them once its fix-ups are done)
    paused = [d[0] for d in listed if len(d) > 1 and "p" in d[1]]
    clock.log(f"savevm {name} (domains: {', '.join(domains)}; paused: "
              f"{', '.join(paused) or 'none'})")
    t0 = time.monotonic()
    out = qemu.monitor_cmd(run_dir(), f"savevm {name}", timeout=600)
    if "rror" in out:
        raise LabError(f"savevm {name}: {out}")
    ov = Path(st["overlays"])
    meta = load_snapmeta(ov)
    meta[name] = {"sig": st["sig"], "domains": domains,
                  "drvdom_running": "drvdom" in domains, "paused": paused,
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



def list_snapshots(flavour: str | None = None) -> int:
    c = ctx(shown_flavour(flavour))
    ov = overlay_dir(c["hash"])
    if not (ov / "ready").is_file():
        print(f"no overlays (and so no snapshots) for flavour {c['flavour']} "
              f"(recipe hash {c['hash']})")
        return 0
    meta = load_snapmeta(ov)
    for name in sorted(meta):
        why = snapshot_problem(ov, c["images"], name)
        m = meta[name]
        print(f"{name:16} saved {m['saved']}  domains="
              f"{','.join(m['domains'])}  {'valid' if why is None else 'STALE: ' + why}")
    return 0

