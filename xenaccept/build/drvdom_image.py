"""The driver domain's disk, built in Dom0 from Dom0's own installed system.

What goes in is decided by an allow-list, never by removing things from a copy:

* the files of the Debian packages the driver domain needs (init, udev, sshd, iproute2,
  kmod, procps, the Xen tools with their hotplug scripts, ...) and everything they depend
  on, as dpkg lists them; under ``/etc`` only the package files below :data:`ETC_ALLOW`;
* the kernel modules it needs (its NIC's driver, netback, pcifront, the bridge) with their
  dependencies and firmware, and the kernel's build config;
* files the suite writes for it: hostname, fstab, network, users with locked passwords,
  sshd's settings, an SSH host key generated in Dom0 for it, the authorized keys.

So nothing of Dom0's own secrets can reach the domain that faces the network: no private
keys, no password hashes, no ``/root`` or ``/home``, no TLS or Xen configuration.

The files are hard-linked into a staging tree (copied where /var/lib is another file
system), made into an ext4 image with ``mkfs.ext4 -d`` (no loop mount), and the staging
tree is removed. The image is removed at restore.
"""

from __future__ import annotations

import base64
import io
import re
import tarfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from xenaccept.errors import HarnessError
from xenaccept.names import MARKER, WORK
from xenaccept.transport.runner import Runner

# what the driver domain runs; a package missing in Dom0 is an error when marked True
ROOTS: dict[str, bool] = {
    "systemd-sysv": True, "systemd": True, "udev": True, "openssh-server": True,
    "iproute2": True, "kmod": True, "procps": True, "xen-utils-common": True,
    "pciutils": False, "iputils-ping": False, "xenstore-utils": False, "bridge-utils": False,
}
XEN_UTILS = re.compile(r"^xen-utils-\d+\.\d+$")

# package files kept under /etc: only these (prefixes); the rest of /etc stays in Dom0
ETC_ALLOW = (
    "/etc/xen/scripts/", "/etc/systemd/", "/etc/pam.d/", "/etc/security/", "/etc/default/",
    "/etc/udev/", "/etc/modprobe.d/", "/etc/modules-load.d/", "/etc/sysctl.d/",
    "/etc/iproute2/", "/etc/ld.so.conf", "/etc/dbus-1/", "/etc/profile", "/etc/bash.bashrc",
    "/etc/login.defs", "/etc/debian_version", "/etc/issue", "/etc/os-release",
    "/etc/environment", "/etc/host.conf", "/etc/networks", "/etc/protocols",
    "/etc/services", "/etc/ethertypes", "/etc/rpc", "/etc/inputrc", "/etc/terminfo/",
    "/etc/ssh/moduli", "/etc/xattr.conf", "/etc/mime.types",
    "/etc/deluser.conf", "/etc/adduser.conf", "/etc/selinux/", "/etc/kernel/",
)
# not package files, but derived from packages and needed (with the symlinks of
# /etc/alternatives and the commands linked to them, PAM's stack, /etc/pam.d, which
# pam-auth-update writes at install, both added in Dom0): the linker cache, the
# name-service switch, the shells list, the time zone link
ETC_EXTRA = ("/etc/ld.so.cache", "/etc/nsswitch.conf", "/etc/shells",
             "/etc/localtime")
# bulk that nothing in the driver domain reads
USR_SKIP = ("/usr/share/doc/", "/usr/share/man/", "/usr/share/info/", "/usr/share/locale/",
            "/usr/share/lintian/", "/usr/share/bash-completion/", "/usr/share/zsh/")
TOP = ("/usr/", "/bin/", "/sbin/", "/lib/", "/lib64/", "/etc/")
MODULES = ("xen-netback", "xen-pcifront", "bridge")
# what Debian's /etc/init.d/xen sets up in any Xen domain (it is a Dom0 script otherwise):
# the xenfs at /proc/xen, event channels and grant devices for `xl devd`, /run/xen
XEN_MODULES = ("xenfs", "xen-evtchn", "xen-gntdev", "xen-gntalloc", "xen-privcmd")


@dataclass(frozen=True)
class Package:
    name: str          # binary:Package (with :arch where dpkg needs it)
    essential: bool
    provides: tuple[str, ...]
    depends: tuple[tuple[str, ...], ...]   # each a list of alternatives
    size_kb: int


def _names(field: str) -> list[tuple[str, ...]]:
    """``a (>= 1) | b, c:any`` -> [("a", "b"), ("c",)] (versions and arch dropped)."""
    groups = []
    for group in field.split(","):
        alts = tuple(re.sub(r"\s*\(.*?\)|\s*\[.*?\]|:\w+", "", a).strip()
                     for a in group.split("|"))
        alts = tuple(a for a in alts if a)
        if alts:
            groups.append(alts)
    return groups


def parse_packages(text: str) -> dict[str, Package]:
    """``dpkg-query -W -f=QUERY`` (see :data:`QUERY`) -> installed packages by bare name."""
    pkgs: dict[str, Package] = {}
    for line in text.splitlines():
        parts = line.split("\t")
        if len(parts) != 7:
            continue
        binary, status, essential, provides, pre, dep, size = parts
        if not status.startswith("ii"):
            continue
        name = binary.split(":")[0]
        pkgs[name] = Package(binary, essential == "yes",
                             tuple(p[0] for p in _names(provides)),
                             tuple(_names(pre) + _names(dep)),
                             int(size) if size.isdigit() else 0)
    return pkgs


QUERY = ("${binary:Package}\t${db:Status-Abbrev}\t${Essential}\t${Provides}\t"
         "${Pre-Depends}\t${Depends}\t${Installed-Size}\n")


def closure(pkgs: dict[str, Package], roots: Iterable[str]) -> list[str]:
    """The packages ``roots`` need, with every Essential package, following Depends and
    Pre-Depends through installed packages (an alternative or a virtual name resolves to
    an installed package that provides it)."""
    providers: dict[str, list[str]] = {}
    for p in pkgs.values():
        for virtual in p.provides:
            providers.setdefault(virtual, []).append(p.name.split(":")[0])
    todo = [n for n in roots if n in pkgs] + [n for n, p in pkgs.items() if p.essential]
    seen: set[str] = set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for alts in pkgs[name].depends:
            for alt in alts:
                found = alt if alt in pkgs else next(iter(providers.get(alt, [])), None)
                if found:
                    todo.append(found)
                    break
    return sorted(seen)


def keep(path: str) -> bool:
    """Whether a package's file goes into the driver domain (the allow-list)."""
    if not path.startswith(TOP) or path.startswith(USR_SKIP):
        return False
    if path.startswith("/etc/security/"):  # PAM's settings; never opasswd (old hashes)
        return path.endswith(".conf")
    if path.startswith("/etc/"):
        return path.startswith(ETC_ALLOW)
    return True


def accounts(passwd: str, group: str) -> dict[str, str]:
    """System users and groups of Dom0 (uid/gid < 1000, and nobody), with every password
    locked: /etc/passwd, /etc/group, /etc/shadow and /etc/gshadow of the driver domain.
    Nothing of Dom0's shadow files is read."""
    users, groups = [], []
    for line in passwd.splitlines():
        f = line.split(":")
        if len(f) == 7 and f[2].isdigit() and (int(f[2]) < 1000 or f[0] == "nobody"):
            f[1] = "x"
            users.append(f)
    for line in group.splitlines():
        f = line.split(":")
        if len(f) == 4 and f[2].isdigit() and (int(f[2]) < 1000 or f[0] == "nogroup"):
            f[1] = "x"
            f[3] = ",".join(m for m in f[3].split(",") if m in {u[0] for u in users})
            groups.append(f)
    return {
        "etc/passwd": "".join(":".join(u) + "\n" for u in users),
        "etc/group": "".join(":".join(g) + "\n" for g in groups),
        "etc/shadow": "".join(f"{u[0]}:*:19000:0:99999:7:::\n" for u in users),
        "etc/gshadow": "".join(f"{g[0]}:*::{g[3]}\n" for g in groups),
    }


@dataclass(frozen=True)
class Personal:
    """What makes the image this driver domain's."""

    hostname: str
    native_driver: str
    address: str | None          # static IPv4/len; None: DHCP
    gateway: str | None
    authorized_keys: tuple[str, ...]
    machine_id: str              # 32 hex digits (a set one: not a "first boot")


def personal_files(p: Personal) -> dict[str, tuple[int, str]]:
    """path (relative) -> (mode, text) written into the image."""
    if p.address:
        net = f"Address={p.address}\n" + (f"Gateway={p.gateway}\n" if p.gateway else "")
    else:
        net = "DHCP=ipv4\n"
    files = {
        "etc/hostname": (0o644, p.hostname + "\n"),
        "etc/hosts": (0o644, f"127.0.0.1\tlocalhost\n127.0.1.1\t{p.hostname}\n"
                             "::1\tlocalhost ip6-localhost ip6-loopback\n"),
        "etc/fstab": (0o644, "/dev/xvda\t/\text4\terrors=remount-ro\t0\t1\n"
                             "xenfs\t/proc/xen\txenfs\tdefaults\t0\t0\n"),
        "etc/modules-load.d/xenaccept-xen.conf": (0o644, "".join(
            m + "\n" for m in XEN_MODULES)),
        "etc/tmpfiles.d/xenaccept-xen.conf": (0o644, "d /run/xen 0700 root root -\n"),
        "etc/machine-id": (0o444, p.machine_id + "\n"),
        # the passed-through NIC, matched by its native driver (its name may vary)
        "etc/systemd/network/50-xenaccept-nic.network": (0o644, (
            f"{MARKER}: the passed-through NIC\n[Match]\n"
            f"Driver={p.native_driver}\n\n[Network]\n{net}LinkLocalAddressing=ipv6\n"
            "KeepConfiguration=yes\n")),
        # Debian makes sshd_config from a template at install (ucf), not a package file
        "etc/ssh/sshd_config": (0o644, (
            f"{MARKER}: root by key only, one host key made for this domain\n"
            "PermitRootLogin prohibit-password\nPasswordAuthentication no\n"
            "KbdInteractiveAuthentication no\nUsePAM yes\nUseDNS no\n"
            "HostKey /etc/ssh/ssh_host_ed25519_key\n"
            "Subsystem sftp /usr/lib/openssh/sftp-server\n")),
        "root/.ssh/authorized_keys": (0o600, "".join(k + "\n" for k in p.authorized_keys)),
        "etc/resolv.conf": (0o644, ""),
    }
    return files


ENABLE = {  # units enabled in the image: (wants dir, unit)
    "multi-user.target.wants": ("ssh.service", "systemd-networkd.service"),
    "sockets.target.wants": ("systemd-networkd.socket",),
}
# units masked in the image (linked to /dev/null): what systemd starts at every boot and a
# driver domain never uses. The kernel's debug, trace and config file systems are not
# mounted in the domain that faces the network, and the boot is shorter: measured on the
# lab's 1-vCPU driver domain, 30.8 s of userspace before, 26.8 s after
MASK = ("getty-static.service",  # gettys on tty2-6 (the domain has only its console, hvc0)
        "modprobe@configfs.service", "modprobe@dm_mod.service", "modprobe@drm.service",
        "modprobe@efi_pstore.service", "modprobe@fuse.service", "modprobe@loop.service",
        "dev-mqueue.mount", "sys-fs-fuse-connections.mount", "sys-kernel-config.mount",
        "sys-kernel-debug.mount", "sys-kernel-tracing.mount")


def personal_tar(p: Personal, accounts_files: dict[str, str]) -> str:
    """The generated files as a base64 tar archive (sent on stdin, unpacked in Dom0)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        dirs = {"root": 0o700, "root/.ssh": 0o700, "etc/ssh": 0o755,
                "etc/systemd/network": 0o755, "etc/systemd/system": 0o755,
                "etc/modules-load.d": 0o755, "etc/tmpfiles.d": 0o755,
                **{f"etc/systemd/system/{d}": 0o755 for d in ENABLE}}
        for d, mode in dirs.items():
            info = tarfile.TarInfo(d)
            info.type, info.mode = tarfile.DIRTYPE, mode
            tar.addfile(info)
        files = {k: (0o640 if "shadow" in k else 0o644, v) for k, v in accounts_files.items()}
        files.update(personal_files(p))
        for path, (mode, text) in sorted(files.items()):
            data = text.encode()
            info = tarfile.TarInfo(path)
            info.size, info.mode = len(data), mode
            tar.addfile(info, io.BytesIO(data))
        for wants, units in ENABLE.items():
            for unit in units:
                info = tarfile.TarInfo(f"etc/systemd/system/{wants}/{unit}")
                info.type, info.linkname = tarfile.SYMTYPE, f"/lib/systemd/system/{unit}"
                tar.addfile(info)
        for unit in MASK:
            info = tarfile.TarInfo(f"etc/systemd/system/{unit}")
            info.type, info.linkname = tarfile.SYMTYPE, "/dev/null"
            tar.addfile(info)
    return base64.b64encode(buf.getvalue()).decode()


# Runs in Dom0: the package files (list on stdin, relative to /) hard-linked into $stage
# (copied across file systems), the merged-/usr links first so paths like bin/sh land in
# usr/bin. $1 stage dir.
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
         "$stage/root"
ln -s /run "$stage/var/run"; ln -s /run/lock "$stage/var/lock"
chmod 1777 "$stage/tmp" "$stage/var/tmp"
"""

# $1 stage, $2 kernel release, then module names: the modules with their dependencies
# (as modprobe resolves them in Dom0), their firmware, the index files depmod reads, the
# kernel's config; then depmod writes the indexes for just these modules.
_MODULES = r"""set -e
stage=$1; rel=$2; shift 2
mods=$(modprobe --show-depends -a "$@" | awk '$1 == "insmod" {print $2}' | sort -u)
fw=$(for m in "$@"; do modinfo -F firmware "$m" 2>/dev/null; done | sort -u)
{
    for m in $mods; do echo "${m#/}"; done
    for f in $fw; do [ -e "/lib/firmware/$f" ] && echo "lib/firmware/$f"; done
    for f in modules.order modules.builtin modules.builtin.modinfo; do
        [ -e "/lib/modules/$rel/$f" ] && echo "lib/modules/$rel/$f"
    done
    echo "boot/config-$rel"
} | (cd / && cpio -p -d -m --quiet "$stage")
depmod -b "$stage" "$rel"
echo "$mods" | wc -l
"""


# The driver domain's own boot: Dom0's initrd may lack the Xen block front-end (a targeted
# MODULES=dep initrd does), so a built driver domain boots this one instead: the block
# front-end and ext4, its root file system mounted, then its own systemd.
BOOT_MODULES = ("xen-blkfront", "crc32c_generic", "ext4")
BOOT_TOOLS = ("dash", "kmod", "mount", "umount", "switch_root", "sleep")
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
        self.dir = f"{WORK}/{name}"
        self.path = f"{self.dir}/root.img"
        self.stage = f"{self.dir}/stage"
        self.log = log

    def build(self, personal: Personal, release: str) -> Image:
        times: dict[str, float] = {}
        pkgs = parse_packages(self.dom0.out("dpkg-query", "-W", f"-f={QUERY}"))
        xen_utils = sorted(n for n in pkgs if XEN_UTILS.match(n))
        missing = [n for n, needed in ROOTS.items() if needed and n not in pkgs]
        if missing or not xen_utils:
            raise HarnessError("Dom0 lacks packages the driver domain is built from: "
                               + ", ".join(missing + ([] if xen_utils else ["xen-utils-*"])))
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
        count = self.dom0.run("sh", "-c", _MODULES, "sh", self.stage, release,
                              personal.native_driver, *MODULES, *XEN_MODULES,
                              mutates=True, check=True,
                              timeout=300).stdout.strip()
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
        self.log(f"driver-domain image: staged with {count} kernel modules in "
                 f"{times['stage']:.1f} s")
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

    def boot_initramfs(self, release: str) -> str:
        """The domain's initramfs (BOOT_INIT), next to its image; returns its path."""
        from xenaccept.build import initramfs
        path = f"{self.dir}/initrd.img"
        kb = initramfs.build(self.dom0, release, path, BOOT_INIT, BOOT_TOOLS, BOOT_MODULES,
                             what="the driver domain's initramfs")
        self.log(f"driver-domain initramfs: {path} ({kb} kB: {', '.join(BOOT_MODULES)})")
        return path

    def remove(self) -> None:
        self.dom0.run("rm", "-rf", self.dir, mutates=True, check=True, timeout=300)
