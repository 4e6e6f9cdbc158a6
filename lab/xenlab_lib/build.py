"""Image build: debootstrap (cached base tree) -> customise -> the installer's last steps in
the chroot (targeted initramfs, /boot/grub, update-grub) -> Dom0's disk (an MBR and one ext4
partition made with mkfs -d, no loop mount) with GRUB's boot and core images written before
the partition, as grub-install does. Nothing is booted.

The cache key is a hash of recipe.py (packages, scripts, sizes) plus, for a flavour other
than the default, that flavour's image entry (flavours.py). Builds go to a temp dir renamed
atomically into place, so an interrupted build never looks cached."""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import secrets
import shutil
import struct
import time
import uuid
from pathlib import Path

from . import flavours, recipe
from .common import Clock, LabError, cache_dir, run

RECIPE_FILE = Path(recipe.__file__)


def recipe_hash(flavour: str = flavours.DEFAULT) -> str:
    """The image hash: recipe.py alone for the default flavour (as before flavours)."""
    data = RECIPE_FILE.read_bytes() + flavours.image_key(flavours.resolve(flavour))
    return hashlib.sha256(data).hexdigest()[:16]


def suite(flavour: str = flavours.DEFAULT) -> str:
    return flavours.spec(flavour)["image"]["suite"]


def base_hash(flavour: str = flavours.DEFAULT) -> str:
    """The debootstrapped tree depends on the suite only (shared by bookworm flavours)."""
    key = json.dumps([suite(flavour), recipe.MIRROR, sorted(recipe.PACKAGES)])
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def image_dir(h: str) -> Path:
    return cache_dir() / "images" / h


def load_manifest(h: str) -> dict | None:
    p = image_dir(h) / "manifest.json"
    if not p.is_file():
        return None
    return json.loads(p.read_text())


def _base_rootfs(clock: Clock, flavour: str, log: Path) -> Path:
    base = cache_dir() / "base" / base_hash(flavour)
    done = base / "rootfs"
    if done.is_dir():
        clock.log(f"debootstrap base cached: {done}")
        return done
    base.mkdir(parents=True, exist_ok=True)
    tmp = base / f".tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    clock.log(f"debootstrap {suite(flavour)} minbase + {len(recipe.PACKAGES)} packages "
              f"(about 2 min) into {tmp}")
    run(["debootstrap", "--variant=minbase", "--include=" + ",".join(recipe.PACKAGES),
         suite(flavour), str(tmp), recipe.MIRROR], timeout=1800, log=log)
    tmp.rename(done)
    clock.log("debootstrap done")
    return done


def _chroot_sh(root: Path, script: str, timeout: float, log: Path,
               env: dict | None = None) -> None:
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8",
           "DEBIAN_FRONTEND": "noninteractive", "HOME": "/root"} | (env or {})
    run(["chroot", str(root), "/bin/sh", "-es"], input="set -x\n" + script, timeout=timeout,
        env=env, log=log)


def _keygen(path: Path, comment: str) -> str:
    run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
        timeout=60, capture=True)
    path.chmod(0o600)
    return path.with_suffix(".pub").read_text().strip()


def _personalise(root: Path, name: str, out: Path, client_pub: str) -> str:
    spec = recipe.IMAGES[name]
    (root / "etc/hostname").write_text(spec["hostname"] + "\n")
    (root / "etc/hosts").write_text(
        f"127.0.0.1\tlocalhost\n127.0.1.1\t{spec['hostname']}\n"
        "::1\tlocalhost ip6-localhost ip6-loopback\n")
    (root / "etc/fstab").write_text(f"{spec['rootdev']}\t/\text4\terrors=remount-ro\t0\t1\n")
    (root / "etc/machine-id").write_text(secrets.token_hex(16) + "\n")
    for rel, (mode, text) in spec["files"].items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
        (root / rel).chmod(mode)
    ak = root / "root/.ssh/authorized_keys"
    ak.write_text(client_pub + "\n")
    ak.chmod(0o600)
    key = root / "etc/ssh/ssh_host_ed25519_key"
    for p in (key, key.with_suffix(".pub")):
        p.unlink(missing_ok=True)
    pub = _keygen(key, f"root@{spec['hostname']}")
    (out / f"{name}_host_ed25519_key.pub").write_text(pub + "\n")
    return pub


def make_disk(tree: Path, disk: Path, root_uuid: str, log: Path | None = None) -> None:
    """A disk as an installer partitions it: an MBR with one bootable Linux partition from
    1 MiB to the end (the gap before it holds GRUB's core image), and the ext4 file system
    made from ``tree`` straight into that partition (mkfs.ext4 -E offset: no loop mount)."""
    size = recipe.DISK_MB << 20
    with open(disk, "wb") as f:
        f.truncate(size)
    run(["mkfs.ext4", "-q", "-F", "-L", recipe.ROOT_LABEL, "-U", root_uuid, "-E",
         f"offset={recipe.PART_OFFSET}", "-d", str(tree), str(disk),
         str((size - recipe.PART_OFFSET) // 1024)], timeout=900, log=log)
    first, count = recipe.PART_OFFSET // 512, (size - recipe.PART_OFFSET) // 512
    # status 0x80 (bootable), CHS fields at their LBA-only maximum, type 0x83 (Linux)
    entry = struct.pack("<B3sB3sII", 0x80, b"\xfe\xff\xff", 0x83, b"\xfe\xff\xff",
                        first, count)
    with open(disk, "r+b") as f:
        f.seek(440)
        f.write(struct.pack("<IH", recipe.DISK_SIGNATURE, 0))
        f.write(entry + bytes(48) + b"\x55\xaa")


# grub-bios-setup's offsets in boot.img (GRUB 2.06, include/grub/i386/pc/boot.h)
KERNEL_SECTOR, BOOT_DRIVE, DRIVE_CHECK = 0x5C, 0x64, 0x66
BPB, BPB_END, NT_MAGIC, PART_END = 0x03, 0x5A, 0x1B8, 0x1FE
CORE_SEGMENT = 0x820       # where the sector after diskboot.img is loaded (0x800 + 512/16)
GAP_SECTORS = recipe.PART_OFFSET // 512 - 1


def write_grub(disk: Path, boot_img: bytes, core_img: bytes) -> None:
    """What `grub-install /dev/vda` writes outside the file system, as grub-bios-setup does
    it for an msdos disk without Reed-Solomon codes (its --no-rs-codes): core.img in the gap
    after the MBR from sector 1, the blocklist at the end of its first sector (diskboot.img)
    naming the sectors after it, and boot.img's code in the MBR, told where core.img
    starts, with the disk's own BPB area, signature and partition table kept."""
    if len(boot_img) != 512 or len(core_img) < 512:
        raise LabError(f"GRUB images of unexpected sizes: boot {len(boot_img)}, core "
                       f"{len(core_img)}")
    sectors = -(-len(core_img) // 512)
    if sectors > GAP_SECTORS:
        raise LabError(f"core.img ({sectors} sectors) does not fit the gap before the "
                       f"partition ({GAP_SECTORS})")
    core = bytearray(core_img.ljust(sectors * 512, b"\0"))
    # the blocklist grows down from the end of diskboot.img: one entry, then a terminator
    end = 512 - 12
    core[end:512] = struct.pack("<QHH", 2, sectors - 1, CORE_SEGMENT)
    core[end - 12:end] = bytes(12)
    with open(disk, "r+b") as f:
        mbr = bytearray(f.read(512))
        boot = bytearray(boot_img)
        boot[BPB:BPB_END] = mbr[BPB:BPB_END]
        boot[NT_MAGIC:PART_END] = mbr[NT_MAGIC:PART_END]
        boot[DRIVE_CHECK:DRIVE_CHECK + 2] = b"\x90\x90"   # a hard disk: trust no BIOS drive
        boot[BOOT_DRIVE] = 0xFF
        boot[KERNEL_SECTOR:KERNEL_SECTOR + 8] = struct.pack("<Q", 1)
        f.seek(512)
        f.write(core)
        f.seek(0)
        f.write(boot)


def install(tree: Path, kver: str, root_uuid: str, clock: Clock, log: Path) -> None:
    """The installer's last steps in the chroot (recipe.INSTALL_SCRIPT): the targeted
    initramfs, /boot/grub and grub.cfg by update-grub. No boot: measured, the first boot
    that did this took 4m23s under TCG on a newcomer's machine."""
    clock.log("installing the bootloader and the targeted initramfs (in the chroot, no boot)")
    _chroot_sh(tree, recipe.INSTALL_SCRIPT, timeout=900, log=log, env={
        "ROOT_UUID": root_uuid, "KVER": kver, "MODULES": " ".join(recipe.INITRAMFS_MODULES),
        "GRUB_MODULES": " ".join(recipe.GRUB_CORE_MODULES), "GRUB_PREFIX": recipe.GRUB_PREFIX,
        "ROOT_LABEL": recipe.ROOT_LABEL, "PARTUUID": f"{recipe.DISK_SIGNATURE:08x}-01"})


def build(force: bool = False, flavour: str = flavours.DEFAULT) -> Path:
    clock = Clock()
    flavour = flavours.resolve(flavour)
    fspec = flavours.spec(flavour)["image"]
    h = recipe_hash(flavour)
    final = image_dir(h)
    if (final / "manifest.json").is_file() and not force:
        clock.log(f"images cached ({flavour}): {final}")
        return final
    if os.geteuid() != 0:
        raise LabError("build needs root (debootstrap, chroot)")
    images = final.parent
    images.mkdir(parents=True, exist_ok=True)
    # one build of these images at a time (a second one would remove the first one's work
    # folder below): it waits, then finds them built
    lock = open(images / f".build-{h}.lock", "w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        clock.log("another build of these images is under way: waiting for it")
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (final / "manifest.json").is_file() and not force:
            clock.log(f"images built meanwhile ({flavour}): {final}")
            return final
    for stale in images.glob(f".tmp-{h}-*"):
        shutil.rmtree(stale, ignore_errors=True)
    tmp = images / f".tmp-{h}-{os.getpid()}"
    tmp.mkdir()
    logs = cache_dir() / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    log = logs / f"build-{h}.log"
    log.write_text(f"# lab/xenlab build, flavour {flavour}, recipe hash {h}, "
                   f"{time.strftime('%Y-%m-%dT%H:%M:%S%z')}\n")
    try:
        clock.log(f"flavour {flavour}, recipe hash {h}; the build's trace goes to {log}")
        base = _base_rootfs(clock, flavour, log)
        work = tmp / "work"
        work.mkdir()
        dom0 = work / "dom0"
        clock.log("copying the base tree")
        run(["cp", "-a", str(base), str(dom0)], timeout=600)
        client_pub = _keygen(tmp / "id_ed25519", "xenlab-client")
        if fspec["pre_script"]:
            clock.log(f"flavour {flavour}: its own step in the chroot (apt)")
            _chroot_sh(dom0, fspec["pre_script"], timeout=1800, log=log)
        if fspec.get("stage_upgrade"):
            clock.log("staging bookworm-backports' kernel packages (what the LAN would serve)")
            _chroot_sh(dom0, recipe.STAGE_UPGRADE_SCRIPT, timeout=1800, log=log)
        clock.log("customising (GRUB, sshd, Dom0's NIC mapping, quiet timers)")
        _chroot_sh(dom0, recipe.COMMON_SCRIPT, timeout=900, log=log)
        host_keys = {"dom0": _personalise(dom0, "dom0", tmp, client_pub)}
        boot = dom0 / "boot"
        kvers = sorted(p.name[len("vmlinuz-"):] for p in boot.glob("vmlinuz-*"))
        xens = sorted(boot.glob("xen-4*-amd64.gz"))
        if len(kvers) != 1 or not xens:
            raise LabError(f"unexpected /boot contents: {sorted(p.name for p in boot.iterdir())}")
        kver = kvers[0]
        if not kver.startswith(fspec["kernel_prefix"]):
            raise LabError(f"flavour {flavour}: kernel {kver} is not {fspec['kernel_prefix']}*")
        root_uuid = str(uuid.uuid4())
        t0 = time.monotonic()
        install(dom0, kver, root_uuid, clock, log)
        install_s = round(time.monotonic() - t0, 1)
        disk = tmp / "dom0.img"
        clock.log(f"Dom0's disk: MBR + ext4 partition (mkfs.ext4 -d, {recipe.DISK_MB} MiB, "
                  "sparse), GRUB's boot and core images before it")
        make_disk(dom0, disk, root_uuid, log)
        grub_dir = dom0 / "boot/grub/i386-pc"
        write_grub(disk, (grub_dir / "boot.img").read_bytes(),
                   (grub_dir / "core.img").read_bytes())
        clock.log("removing work trees")
        shutil.rmtree(work)
        manifest = {
            "hash": h, "flavour": flavour, "built": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "boot": "grub", "grub_install_seconds": install_s, "root_uuid": root_uuid,
            "build_seconds": round(clock.elapsed(), 1), "suite": suite(flavour),
            "kernel_version": kver, "xen": xens[-1].name,
            "dom0_kernel": f"/boot/vmlinuz-{kver}", "dom0_initrd": f"/boot/initrd.img-{kver}",
            "host_keys": host_keys, "client_pub": client_pub,
        }
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
        if final.exists():  # a forced rebuild
            shutil.rmtree(final)
        tmp.rename(final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        clock.log(f"build failed (its trace: {log}); {tmp} removed")
        raise
    clock.log(f"images built in {final}")
    return final
