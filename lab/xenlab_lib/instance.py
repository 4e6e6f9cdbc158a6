"""A lab instance: its state file, paths, credentials and SSH into its domains, its serial
log."""
from __future__ import annotations

import json
import os
from pathlib import Path

from . import build, faults, flavours, qemu, remote
from .common import LabError, lab_name, run_dir


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


def ctx(flavour: str) -> dict:
    h = build.recipe_hash(flavour)
    images = build.image_dir(h)
    return {"hash": h, "images": images, "key": images / "id_ed25519",
            "kh": run_dir() / "known_hosts", "flavour": flavour}


def state_flavour(st: dict | None) -> str:
    return (st or {}).get("flavour", flavours.DEFAULT)


def suite_state_dir(st: dict | None = None) -> Path:
    """Where the suite keeps what it made for this lab's target (xenaccept/model/state.py): the
    driver domain's client key and its pinned host key. The lab has no key of its own for
    the driver domain: the suite builds that domain, with keys made for the run."""
    base = os.environ.get("XENACCEPT_STATE") or os.path.join(
        os.environ.get("XDG_STATE_HOME") or os.path.expanduser("~/.local/state"), "xenaccept")
    return Path(base) / f"xenlab-{(st or {}).get('name', lab_name())}"


def creds(which: str, st: dict) -> tuple[Path, Path]:
    if which == "dom0":
        return Path(st["images"]) / "id_ed25519", run_dir() / "known_hosts"
    d = suite_state_dir(st)
    key, kh = d / "drvdom_ed25519", d / "drvdom_known_hosts"
    if not key.is_file() or not kh.is_file():
        raise LabError(f"no key for the driver domain in {d}: the suite makes it "
                       "(`.venv/bin/pytest --provision --keep`), with a key made for the run")
    return key, kh


def ssh(which: str, command: str, timeout: float = 60, st: dict | None = None):
    st = st or load_state()
    if not st:
        raise LabError("the lab is not up")
    key, kh = creds(which, st)
    return remote.ssh(st["ports"][which], key, kh, command, timeout=timeout)


def answers(st: dict, which: str, command: str = "true") -> bool:
    try:
        return ssh(which, command, timeout=30, st=st).returncode == 0
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


def alive_probe(pid: int, inner):
    def probe():
        if qemu.read_pid(run_dir()) != pid:
            raise LabError("QEMU exited")
        return inner()
    return probe



def shown_flavour(asked: str | None) -> str:
    """status/snapshot list: the running lab's flavour, else the one asked for."""
    st = load_state()
    if st and qemu.read_pid(run_dir()) and not asked:
        return state_flavour(st)
    return flavours.resolve(asked)
