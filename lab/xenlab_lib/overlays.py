"""Per-instance qcow2 overlays on the cached raw images."""
from __future__ import annotations

import shutil
from pathlib import Path

from . import flavours, qemu
from .common import cache_dir, lab_name


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

