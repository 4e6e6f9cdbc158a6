"""Lab flavours: the same host built from recipe.py with a few differences.

`bookworm` is recipe.py as it is (its image hash is the hash of recipe.py alone, as before
flavours existed). Every other flavour's image hash covers recipe.py *and* its own `image`
entry below, so its images, overlays and snapshots are separate. Every flavour boots with
the same QEMU and Xen settings (qemu.py): the newer stacks needed none of their own.
"""
from __future__ import annotations

import json
import os

from .common import LabError
from .recipe import MIRROR

DEFAULT = "bookworm"

# Run in the chroot of the copied base tree before recipe.COMMON_SCRIPT (which ends with
# `apt-get clean`, removing the apt lists, and `update-initramfs -u -k all`), as /bin/sh -es.
# A kernel upgrade as an operator does it: bookworm-backports' linux-image-amd64 (6.12).
# The old 6.1 kernel is purged so that /boot holds exactly one kernel: Dom0, the driver
# domain and the guests all boot it, and `uname -r` names files that exist in both images.
BPO_SCRIPT = f'''
echo 'deb {MIRROR} bookworm-backports main' > /etc/apt/sources.list.d/bookworm-backports.list
apt-get update
apt-get install -y --no-install-recommends -t bookworm-backports linux-image-amd64
old=$(dpkg-query -W -f '${{Package}} ${{Status}}\\n' 'linux-image-6.1.*' 2>/dev/null \\
      | awk '$NF == "installed" {{print $1}}')
[ -z "$old" ] || apt-get purge -y $old
dpkg-query -W -f '${{Package}} ${{Version}}\\n' 'linux-image-*'
'''

# trixie's debootstrap no longer brings e2fsprogs (no longer Priority: required there); a
# host installed onto ext4 has it (the installer adds it for the root's file system, and
# the boot's fsck runs it), as the lab's root is ext4.
TRIXIE_SCRIPT = """
apt-get update
apt-get install -y --no-install-recommends e2fsprogs
"""

FLAVOURS: dict[str, dict] = {
    "bookworm": {
        "description": "Debian bookworm: Xen 4.17, Linux 6.1",
        "image": {"suite": "bookworm", "pre_script": "", "kernel_prefix": "",
                  "stage_upgrade": True},
    },
    "bookworm-bpo": {
        "description": "Debian bookworm: Xen 4.17, Linux 6.12 from bookworm-backports",
        "image": {"suite": "bookworm", "pre_script": BPO_SCRIPT, "kernel_prefix": "6.12."},
    },
    "trixie": {
        "description": "Debian trixie: Xen 4.20, Linux 6.12",
        "image": {"suite": "trixie", "pre_script": TRIXIE_SCRIPT, "kernel_prefix": "6.12."},
    },
}


def resolve(name: str | None = None) -> str:
    """The flavour asked for: NAME, else $XENLAB_FLAVOUR, else the default."""
    name = name or os.environ.get("XENLAB_FLAVOUR") or DEFAULT
    if name not in FLAVOURS:
        raise LabError(f"unknown flavour {name!r}; known: {', '.join(FLAVOURS)}")
    return name


def spec(name: str) -> dict:
    return FLAVOURS[resolve(name)]


def image_key(name: str) -> bytes:
    """What the image hash adds to recipe.py for this flavour (nothing for the default)."""
    if name == DEFAULT:
        return b""
    return b"\0flavour\0" + json.dumps({"name": name, "image": FLAVOURS[name]["image"]},
                                       sort_keys=True).encode()
