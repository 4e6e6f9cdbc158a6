"""The driver domain's disk, built in Dom0 from Dom0's own installed system.

What goes in is decided by an allow-list, never by removing things from a copy:

* the files of the Debian packages the driver domain needs (init, udev, sshd, iproute2,
  kmod, procps, the Xen tools with their hotplug scripts, ...) and everything they depend
  on, as dpkg lists them; under ``/etc`` only the package files below :data:`ETC_ALLOW`;
* files the suite writes for it: hostname, fstab, network, users with locked passwords,
  sshd's settings, an SSH host key generated in Dom0 for it, the authorized keys.

So nothing of Dom0's own secrets can reach the domain that faces the network: no private
keys, no password hashes, no ``/root`` or ``/home``, no TLS or Xen configuration.

The files are hard-linked into a staging tree (copied where /var/lib is another file
system), made into an ext4 image with ``mkfs.ext4 -d`` (no loop mount), and the staging
tree is removed. The image is removed at restore. What is selected: :mod:`.packages`; what
the suite writes for the domain: :mod:`.personal`.

What belongs to one kernel is not in the image but in the domain's initramfs, one a kernel
(``initrd.img-<release>`` beside the image): the modules it needs (its NIC's driver,
netback, pcifront, the bridge, netfilter) with their dependencies and firmware, and the
kernel's build config, put in place at boot on memory file systems. The script that makes
it (``boot-files``, beside the image) is the one the kernel's hooks run while the setup is
permanent, so that a kernel apt installs gets the driver domain's boot files too.
"""

from __future__ import annotations

import shlex
import time
from collections.abc import Callable
from dataclasses import dataclass

from xenaccept.images import initramfs
from xenaccept.images.packages import (ETC_EXTRA, FILTER_MODULES, MODULES, QUERY, ROOTS,
                                      XEN_MODULES, XEN_UTILS, closure, keep, parse_packages)
from xenaccept.images.personal import Personal, accounts, personal_tar
from xenaccept.errors import HarnessError
from xenaccept.names import MARKER, WORK
from xenaccept.transport.runner import Runner

_STAGE = r"""set -e
stage=$1
rm -rf "$stage"; mkdir -p "$stage"
for d in bin sbin lib lib64; do
    if [ -L "/$d" ]; then
        t=$(readlink "/$d"); mkdir -p "$stage/${t#/}"; ln -s "$t" "$stage/$d"
    fi
done
cd /
list() {
    cat
    find etc/alternatives etc/pam.d -mindepth 1 2>/dev/null || true
    # the commands update-alternatives links (awk, ...): not package files either
    find usr/bin usr/sbin -maxdepth 1 -lname '/etc/alternatives/*' 2>/dev/null || true
}
if command -v cpio >/dev/null; then
    list | cpio -p -d -m --link --quiet "$stage" 2>"$stage.cpio-errors" || {
        grep -v 'Invalid cross-device link' "$stage.cpio-errors" >&2 || true; }
else
    list | tar -c --no-recursion -T - -f - | tar -x -f - -C "$stage"
fi
rm -f "$stage.cpio-errors"
mkdir -p "$stage/proc" "$stage/sys" "$stage/dev" "$stage/run" "$stage/tmp" \
         "$stage/var/tmp" "$stage/var/log/xen" "$stage/var/lib/xen" "$stage/var/cache" \
         "$stage/root" "$stage/lib/modules" "$stage/lib/firmware" "$stage/boot"
ln -s /run "$stage/var/run"; ln -s /run/lock "$stage/var/lock"
chmod 1777 "$stage/tmp" "$stage/var/tmp"
"""

# The driver domain's own boot: Dom0's initrd may lack the Xen block front-end (a targeted
# MODULES=dep initrd does), so a built driver domain boots this one instead: the block
# front-end and ext4, its root file system mounted, the kernel's files its system needs
# put in place, then its own systemd.
BOOT_MODULES = ("xen-blkfront", "crc32c_generic", "ext4")
BOOT_TOOLS = ("dash", "kmod", "mount", "umount", "switch_root", "sleep", "cp")
BOOT_INIT = r"""#!/bin/sh
# xenaccept's driver domain: its root file system on /dev/xvda, then its own init
export PATH=/xenaccept/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
while read -r m; do [ -n "$m" ] && insmod "/xenaccept/mod/$m"; done < /xenaccept/mod/order
n=0
until [ -b /dev/xvda ]; do
    n=$((n + 1))
    if [ $n -gt 600 ]; then echo "xenaccept: no /dev/xvda after 60 s" >/dev/console; exec sh; fi
    sleep 0.1
done
mount -t ext4 /dev/xvda /root
# this kernel's modules, firmware and config: in memory, from this initramfs
for d in lib/modules lib/firmware boot; do
    [ -d "/xenaccept/kernel/$d" ] || continue
    if ! mount -t tmpfs -o mode=0755 xenaccept-kernel "/root/$d" ||
       ! cp -a "/xenaccept/kernel/$d/." "/root/$d/"; then
        echo "xenaccept: cannot put this kernel's /$d in place" >/dev/console; exec sh
    fi
done
umount /proc /sys
mount --move /dev /root/dev
exec switch_root /root /sbin/init
"""


@dataclass(frozen=True)
class Image:
    """The built image in Dom0."""

    path: str
    host_key: str          # the public half of the host key generated for the domain


class DriverDomainImage:
    """Builds (and removes) the driver domain's disk image in Dom0."""

    def __init__(self, dom0: Runner, name: str, log: Callable[[str], None] = print) -> None:
        self.dom0 = dom0
        self.dir = image_dir(name)
        self.path = f"{self.dir}/root.img"
        self.stage = f"{self.dir}/stage"
        self.log = log

    def build(self, personal: Personal) -> Image:
        times: dict[str, float] = {}
        pkgs = parse_packages(self.dom0.out("dpkg-query", "-W", f"-f={QUERY}"))
        xen_utils = sorted(n for n in pkgs if XEN_UTILS.match(n))
        missing = [n for n, needed in ROOTS.items() if needed and n not in pkgs]
        if missing or not xen_utils:
            raise HarnessError("Dom0 lacks packages the driver domain is built from: "
                               + ", ".join(missing + ([] if xen_utils else ["xen-utils-*"])))
        if "e2fsprogs" not in pkgs:   # trixie no longer has it in every system
            raise HarnessError(
                "Dom0 has no mkfs.ext4 (Debian: e2fsprogs): the driver domain's disk is made "
                "with `mkfs.ext4 -d`. Install e2fsprogs, or name a disk of your own "
                "(driver_domain.disk)")
        chosen = closure(pkgs, [*ROOTS, *xen_utils])
        need_mb = sum(pkgs[n].size_kb for n in chosen) / 1024 * 1.3 + 256
        self._check_space(need_mb)
        listing = self.dom0.run("dpkg-query", "-L", *(pkgs[n].name for n in chosen),
                                timeout=120)
        paths = sorted({p for p in listing.stdout.splitlines() if keep(p)} | set(ETC_EXTRA))
        self.log(f"driver-domain image: {len(chosen)} of Dom0's {len(pkgs)} packages, "
                 f"{len(paths)} paths")
        t = time.monotonic()
        self.dom0.run("mkdir", "-p", "-m", "0700", self.dir, mutates=True, check=True)
        self.dom0.run("sh", "-c", _STAGE, "sh", self.stage, mutates=True, check=True,
                      timeout=600, stdin="".join(p.lstrip("/") + "\n" for p in paths))
        accounts_files = accounts(self.dom0.out("cat", "/etc/passwd"),
                                  self.dom0.out("cat", "/etc/group"))
        self.dom0.run("sh", "-c", 'base64 -d | tar -x -f - -C "$1" --no-same-owner',
                      "sh", self.stage, stdin=personal_tar(personal, accounts_files),
                      mutates=True, check=True)
        key = f"{self.stage}/etc/ssh/ssh_host_ed25519_key"
        self.dom0.run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C",
                      f"root@{personal.hostname}", "-f", key, mutates=True, check=True)
        host_key = self.dom0.out("cat", f"{key}.pub").strip()
        times["stage"] = time.monotonic() - t
        self.log(f"driver-domain image: staged in {times['stage']:.1f} s")
        t = time.monotonic()
        used_kb = int(self.dom0.out("du", "-sk", "-x", self.stage, timeout=120).split()[0])
        size_mb = used_kb / 1024
        image_mb = int(size_mb * 1.25) + 192
        self.dom0.run("mkfs.ext4", "-q", "-F", "-L", "xa-root", "-d", self.stage, self.path,
                      f"{image_mb}M", mutates=True, check=True, timeout=900)
        self.dom0.run("rm", "-rf", self.stage, mutates=True, check=True, timeout=300)
        times["mkfs"] = time.monotonic() - t
        self.log(f"driver-domain image: {self.path}, {size_mb:.0f} MB of files in a "
                 f"{image_mb} MB ext4 image, mkfs.ext4 -d took {times['mkfs']:.1f} s")
        return Image(self.path, host_key)

    def _check_space(self, need_mb: float) -> None:
        probe = WORK if self.dom0.run("test", "-d", WORK).ok else "/var/lib"  # made later
        out = self.dom0.out("df", "-Pk", probe).splitlines()[-1].split()
        free_mb = int(out[3]) / 1024
        if free_mb < need_mb:
            raise HarnessError(
                f"Dom0 has {free_mb:.0f} MB free in {probe} ({out[5]}); building the driver "
                f"domain's disk needs about {need_mb:.0f} MB: free some space, or name a "
                "disk of your own (driver_domain.disk)")

    def boot_initramfs(self, release: str, native_driver: str, config: str) -> str:
        """The domain's initramfs for ``release`` (BOOT_INIT, and the kernel's files its
        system needs), next to its image, made by the ``boot-files`` script written there
        first; returns its path."""
        self.dom0.run("mkdir", "-p", "-m", "0700", self.dir, mutates=True, check=True)
        self.dom0.write_file(self.boot_files, boot_files_script(self.dir, native_driver, config),
                             mode="0700")
        r = self.dom0.run("sh", self.boot_files, "build", release, mutates=True, timeout=600)
        if not r.ok:
            raise HarnessError(f"building the driver domain's initramfs in Dom0 failed: "
                               f"{r.describe()}")
        count, kb = r.stdout.split()[-2:]
        path = initrd_path(self.dir, release)
        self.log(f"driver-domain initramfs: {path} ({kb} kB: {', '.join(BOOT_MODULES)}; "
                 f"{count} modules for its system)")
        return path

    @property
    def boot_files(self) -> str:
        return boot_files_path(self.dir)

    def remove(self) -> None:
        self.dom0.run("rm", "-rf", self.dir, mutates=True, check=True, timeout=300)


def boot_files_path(directory: str) -> str:
    """The script that makes the driver domain's boot files, in its image's directory."""
    return f"{directory}/boot-files"


def image_dir(name: str) -> str:
    """Where the image of the driver domain ``name`` and its boot files are, in Dom0."""
    return f"{WORK}/{name}"


def initrd_path(directory: str, release: str) -> str:
    return f"{directory}/initrd.img-{release}"


def boot_files_script(directory: str, native_driver: str, config: str) -> str:
    """The script that makes the driver domain's boot files for a kernel: ``build REL``
    (the suite's run), ``install REL`` and ``remove REL`` (the kernel's hooks: the config
    then boots the newest kernel that has its initramfs, as GRUB's default entry does)."""
    q = shlex.quote
    system_modules = " ".join((native_driver, *MODULES, *XEN_MODULES, "--optional",
                               *FILTER_MODULES))
    return f"""#!/bin/sh
{MARKER}: the driver domain's boot files for one kernel (removed when the
# suite restores the host): its initramfs, which mounts its root file system and brings
# the kernel's modules, firmware and config its system needs. Run by the suite, and by the
# kernel's hooks (/etc/kernel/postinst.d, postrm.d) while the setup is permanent.
#   build REL     make {initrd_path(directory, "REL")}
#   install REL   make it, then boot the newest kernel that has one ({config})
#   remove REL    remove it, then the same
set -e
boot=/boot
dir={q(directory)}
config={q(config)}
initramfs() {{
{initramfs.BUILD}}}
build() {{
    initramfs "$dir/initrd.img-$1.stage" "$1" "$dir/initrd.img-$1" {q(" ".join(BOOT_MODULES))} \
        {q(system_modules)} {" ".join(q(t) for t in BOOT_TOOLS)} <<'XENACCEPT_INIT_EOF'
{initramfs.stdin_of(BOOT_INIT).rstrip()}
XENACCEPT_INIT_EOF
}}
newest() {{
    for f in "$dir"/initrd.img-*; do
        v=${{f##*/initrd.img-}}
        case "$v" in *.stage|*.tmp|"*") continue ;; esac
        [ -e "$boot/vmlinuz-$v" ] && echo "$v"
    done | sort -V | tail -n 1
}}
follow() {{
    v=$(newest)
    [ -n "$v" ] || return 0
    sed -i -e "s|^kernel = .*|kernel = \\"$boot/vmlinuz-$v\\"|" \\
        -e "s|^ramdisk = .*|ramdisk = \\"$dir/initrd.img-$v\\"|" "$config"
    echo "xenaccept: the driver domain boots $v from its next start ($config)"
}}
case "${{1:-}}" in
    build) build "$2" ;;
    install) build "$2" >/dev/null; follow ;;
    remove) rm -f "$dir/initrd.img-$2"; follow ;;
    *) echo "usage: $0 build|install|remove RELEASE" >&2; exit 2 ;;
esac
"""
