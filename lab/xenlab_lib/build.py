"""Image build: debootstrap (cached base tree) -> customise -> Dom0's disk (an MBR and one
ext4 partition made with mkfs -d, no loop mount) -> a first boot that installs GRUB on it.

The cache key is a hash of recipe.py (packages, scripts, sizes) plus, for a flavour other
than the default, that flavour's image entry (flavours.py). Builds go to a temp dir renamed
atomically into place, so an interrupted build never looks cached."""
from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import struct
import time
from pathlib import Path

from . import flavours, qemu, recipe, remote
from .common import Clock, LabError, cache_dir, run, wait_until

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


def _base_rootfs(clock: Clock, flavour: str) -> Path:
    base = cache_dir() / "base" / base_hash(flavour)
    done = base / "rootfs"
    if done.is_dir():
        clock.log(f"debootstrap base cached: {done}")
        return done
    base.mkdir(parents=True, exist_ok=True)
    tmp = base / f".tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    clock.log(f"debootstrap {suite(flavour)} minbase + {len(recipe.PACKAGES)} packages "
              f"(~2.5 min) into {tmp}")
    run(["debootstrap", "--variant=minbase", "--include=" + ",".join(recipe.PACKAGES),
         suite(flavour), str(tmp), recipe.MIRROR], timeout=1800)
    tmp.rename(done)
    clock.log("debootstrap done")
    return done


def _chroot_sh(root: Path, script: str, timeout: float) -> None:
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8",
           "DEBIAN_FRONTEND": "noninteractive", "HOME": "/root"}
    run(["chroot", str(root), "/bin/sh", "-es"], input="set -x\n" + script, timeout=timeout,
        env=env)


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


def make_disk(tree: Path, disk: Path) -> None:
    """A disk as an installer partitions it: an MBR with one bootable Linux partition from
    1 MiB to the end (the gap before it holds GRUB's core image), and the ext4 file system
    made from ``tree`` straight into that partition (mkfs.ext4 -E offset: no loop mount)."""
    size = recipe.DISK_MB << 20
    with open(disk, "wb") as f:
        f.truncate(size)
    run(["mkfs.ext4", "-q", "-F", "-L", recipe.ROOT_LABEL, "-E",
         f"offset={recipe.PART_OFFSET}", "-d", str(tree), str(disk),
         str((size - recipe.PART_OFFSET) // 1024)], timeout=900)
    first, count = recipe.PART_OFFSET // 512, (size - recipe.PART_OFFSET) // 512
    # status 0x80 (bootable), CHS fields at their LBA-only maximum, type 0x83 (Linux)
    entry = struct.pack("<B3sB3sII", 0x80, b"\xfe\xff\xff", 0x83, b"\xfe\xff\xff",
                        first, count)
    with open(disk, "r+b") as f:
        f.seek(440)
        f.write(b"xlab\0\0")              # disk signature
        f.write(entry + bytes(48) + b"\x55\xaa")


def install_grub(disk: Path, files: Path, key: Path, host_key: str, clock: Clock) -> None:
    """The installer's last steps, done in a first boot of the disk (with QEMU's -kernel:
    nothing is on the MBR yet): the targeted initramfs made for this machine, grub-install
    on the real block device, then update-grub,
    which writes the multiboot2 Xen entry (Debian's 20_linux_xen) that every later boot
    takes; then power off."""
    rund = files / "run"
    rund.mkdir()
    ports = dict(zip(("dom0", "drvdom"), qemu.free_ports(2)))
    kh = rund / "known_hosts"
    remote.write_known_hosts(kh, [(ports["dom0"], host_key)])
    cmd = qemu.command(disk, rund, ports, disk_format="raw", extra=qemu.kernel_args(
        files / "xen", files / "vmlinuz", files / "initrd.img"))
    clock.log("first boot (QEMU -kernel) to install GRUB on the disk")
    run(cmd, timeout=300, capture=True)
    pid = qemu.read_pid(rund)
    try:
        if pid is None:
            raise LabError("QEMU did not start for the first boot")
        wait_until("Dom0's SSH in the first boot", lambda: qemu.read_pid(rund) == pid and
                   remote.answers(ports["dom0"], key, kh), deadline_s=900, interval=3)
        r = remote.ssh(ports["dom0"], key, kh, (
            "echo 'grub-pc grub-pc/install_devices multiselect /dev/vda' | "
            "debconf-set-selections && update-initramfs -u && grub-install /dev/vda && "
            "update-grub && sync"),
            timeout=900)
        if r.returncode != 0:
            raise LabError(f"grub-install/update-grub failed: {r.stdout[-2000:]}"
                           f"{r.stderr[-2000:]}")
        clock.log("GRUB installed; powering off")
        remote.ssh(ports["dom0"], key, kh, "systemctl poweroff", timeout=60)
        wait_until("QEMU to exit after poweroff", lambda: qemu.read_pid(rund) is None,
                   deadline_s=180, interval=1)
    finally:
        qemu.stop(rund)


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
    for stale in images.glob(f".tmp-{h}-*"):
        shutil.rmtree(stale, ignore_errors=True)
    tmp = images / f".tmp-{h}-{os.getpid()}"
    tmp.mkdir()
    try:
        clock.log(f"flavour {flavour}, recipe hash {h}")
        base = _base_rootfs(clock, flavour)
        work = tmp / "work"
        work.mkdir()
        dom0 = work / "dom0"
        clock.log("copying the base tree")
        run(["cp", "-a", str(base), str(dom0)], timeout=600)
        client_pub = _keygen(tmp / "id_ed25519", "xenlab-client")
        if fspec["pre_script"]:
            clock.log(f"flavour {flavour}: its own step in the chroot (apt)")
            _chroot_sh(dom0, fspec["pre_script"], timeout=1800)
        if fspec.get("stage_upgrade"):
            clock.log("staging bookworm-backports' kernel packages (what the LAN would serve)")
            _chroot_sh(dom0, recipe.STAGE_UPGRADE_SCRIPT, timeout=1800)
        clock.log("customising (GRUB, sshd, Dom0's NIC mapping, quiet timers)")
        _chroot_sh(dom0, recipe.COMMON_SCRIPT, timeout=900)
        host_keys = {"dom0": _personalise(dom0, "dom0", tmp, client_pub)}
        boot = dom0 / "boot"
        kvers = sorted(p.name[len("vmlinuz-"):] for p in boot.glob("vmlinuz-*"))
        xens = sorted(boot.glob("xen-4*-amd64.gz"))
        if len(kvers) != 1 or not xens:
            raise LabError(f"unexpected /boot contents: {sorted(p.name for p in boot.iterdir())}")
        kver = kvers[0]
        if not kver.startswith(fspec["kernel_prefix"]):
            raise LabError(f"flavour {flavour}: kernel {kver} is not {fspec['kernel_prefix']}*")
        first = tmp / "first-boot"
        first.mkdir()
        shutil.copy2(boot / f"vmlinuz-{kver}", first / "vmlinuz")
        shutil.copy2(boot / f"initrd.img-{kver}", first / "initrd.img")
        # QEMU's -kernel boots Xen's multiboot ELF directly, but not gzipped
        (first / "xen").write_bytes(
            run(["zcat", str(xens[-1])], timeout=60, capture=True, input=b"").stdout)
        disk = tmp / "dom0.img"
        clock.log(f"Dom0's disk: MBR + ext4 partition (mkfs.ext4 -d, {recipe.DISK_MB} MiB, "
                  "sparse)")
        make_disk(dom0, disk)
        clock.log("removing work trees")
        shutil.rmtree(work)
        t0 = time.monotonic()
        install_grub(disk, first, tmp / "id_ed25519", host_keys["dom0"], clock)
        install_s = round(time.monotonic() - t0, 1)
        shutil.rmtree(first)
        manifest = {
            "hash": h, "flavour": flavour, "built": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "boot": "grub", "grub_install_seconds": install_s,
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
        clock.log(f"build failed; removing {tmp}")
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    clock.log(f"images built in {final}")
    return final
