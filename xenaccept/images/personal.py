"""The files the suite writes for the driver domain itself: hostname, fstab, network, users
with locked passwords, sshd's settings, its own host key and the authorized keys; the units
it enables and masks. Made into a tar sent to Dom0 in one command."""

from __future__ import annotations

import base64
import io
import tarfile
from dataclasses import dataclass

from xenaccept.images.packages import XEN_MODULES
from xenaccept.names import ADDRESS_KEY, ADDRESS_SCRIPT, ADDRESS_UNIT, MARKER

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


def network(address: str | None, gateway: str | None) -> str:
    """The ``[Network]`` lines of the passed-through NIC's systemd-networkd config (of the
    bridge, once the setup is permanent): the static address or DHCP."""
    if address:
        return f"Address={address}\n" + (f"Gateway={gateway}\n" if gateway else "")
    return "DHCP=ipv4\n"


# the address the SSH server answers at, told to Dom0 in xenstore once the domain holds one
# (DHCP's lease, or the static address): the first global IPv4 address, polled 5 times a
# second for 5 minutes at most
ADDRESS_SCRIPT_TEXT = f"""#!/bin/sh
{MARKER}: tell Dom0 where this domain's SSH server answers
n=0
while :; do
    set -- $(ip -4 -o address show scope global)
    [ -n "${{4:-}}" ] && break
    n=$((n+1)); [ $n -lt 1500 ] || {{ echo "no IPv4 address after 5 min" >&2; exit 1; }}
    sleep 0.2
done
exec xenstore-write {ADDRESS_KEY} "${{4%/*}}"
"""
ADDRESS_UNIT_TEXT = f"""{MARKER}
[Unit]
Description=Tell Dom0 where this domain's SSH server answers (xenstore {ADDRESS_KEY})
After=ssh.service systemd-networkd.service proc-xen.mount
Wants=ssh.service

[Service]
Type=oneshot
RemainAfterExit=yes
TimeoutStartSec=330
ExecStart={ADDRESS_SCRIPT}
ExecStop=-/usr/bin/xenstore-rm {ADDRESS_KEY}

[Install]
WantedBy=multi-user.target
"""


def personal_files(p: Personal) -> dict[str, tuple[int, str]]:
    """path (relative) -> (mode, text) written into the image."""
    net = network(p.address, p.gateway)
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
        ADDRESS_SCRIPT.lstrip("/"): (0o755, ADDRESS_SCRIPT_TEXT),
        f"etc/systemd/system/{ADDRESS_UNIT}": (0o644, ADDRESS_UNIT_TEXT),
    }
    return files


ENABLE = {  # units enabled in the image: (wants dir, unit)
    "multi-user.target.wants": ("ssh.service", "systemd-networkd.service", ADDRESS_UNIT),
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
        dirs = {"root": 0o700, "root/.ssh": 0o700, "etc/ssh": 0o755, "usr/local/sbin": 0o755,
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
                # a unit the image carries itself, else the package's
                own = f"etc/systemd/system/{unit}" in files
                info.type = tarfile.SYMTYPE
                info.linkname = f"/{'etc' if own else 'lib'}/systemd/system/{unit}"
                tar.addfile(info)
        for unit in MASK:
            info = tarfile.TarInfo(f"etc/systemd/system/{unit}")
            info.type, info.linkname = tarfile.SYMTYPE, "/dev/null"
            tar.addfile(info)
    return base64.b64encode(buf.getvalue()).decode()


# Runs in Dom0: the package files (list on stdin, relative to /) hard-linked into $stage
# (copied across file systems), the merged-/usr links first so paths like bin/sh land in
# usr/bin. $1 stage dir.
