"""Command line of lab/xenlab."""
from __future__ import annotations

import argparse
import os
import shutil
import sys

from . import boot, build, flavours, lab, snapshots
from .common import Clock, LabError, cache_dir, run, run_dir

HOST_PACKAGES = ["qemu-system-x86", "qemu-utils", "debootstrap", "e2fsprogs",
                 "openssh-client", "ca-certificates"]
HOST_TOOLS = ["qemu-system-x86_64", "qemu-img", "debootstrap", "mkfs.ext4", "ssh",
              "ssh-keygen"]


def prepare() -> int:
    missing = [t for t in HOST_TOOLS if shutil.which(t) is None
               and not any(os.path.exists(d + t) for d in ("/usr/sbin/", "/sbin/"))]
    if not missing:
        print("xenlab: host tools present: " + ", ".join(HOST_TOOLS))
        return 0
    clock = Clock()
    log = cache_dir() / "logs" / "prepare.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text("")
    clock.log(f"missing {missing}: apt-get install {' '.join(HOST_PACKAGES)} (its output: "
              f"{log})")
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "DEBIAN_FRONTEND": "noninteractive"}
    run(["apt-get", "update"], timeout=600, env=env, log=log)
    run(["apt-get", "install", "-y", "--no-install-recommends", *HOST_PACKAGES],
        timeout=1800, env=env, log=log)
    clock.log("host tools installed")
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="lab/xenlab", description=(
        "A Debian Xen host under QEMU TCG with an emulated Intel IOMMU. "
        "Instance: $XENLAB_NAME (default 'default'); cache: $XENLAB_CACHE "
        "(default /var/cache/xenlab); flavour: --flavour or $XENLAB_FLAVOUR (default "
        f"{flavours.DEFAULT!r})."))
    fl_help = ("image flavour: " + "; ".join(f"{k} ({v['description']})"
                                             for k, v in flavours.FLAVOURS.items())
               + f". Default: $XENLAB_FLAVOUR, else {flavours.DEFAULT}")
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("prepare", help="apt-get install what the lab needs on this machine")
    b = sub.add_parser("build", help="build the images unless cached")
    b.add_argument("--force", action="store_true", help="rebuild even if cached")
    b.add_argument("--flavour", choices=list(flavours.FLAVOURS), help=fl_help)
    u = sub.add_parser("up", help="boot the lab (snapshot `fresh` if valid, else cold)")
    u.add_argument("--from", dest="from_name", metavar="SNAPSHOT",
                   help="restore this snapshot (cold boot if missing or stale)")
    u.add_argument("--cold", action="store_true", help="never restore a snapshot")
    u.add_argument("--flavour", choices=list(flavours.FLAVOURS), help=fl_help)
    sub.add_parser("down", help="stop this lab's QEMU")
    stp = sub.add_parser("status", help="running or not, flavour, ports, uptime, snapshots, "
                                        "faults")
    stp.add_argument("--flavour", choices=list(flavours.FLAVOURS), help=(
        "the flavour whose images/snapshots to show when the lab is not running "
        "(default: $XENLAB_FLAVOUR, else the default); a running lab shows its own"))
    s = sub.add_parser("ssh", help="run a command in dom0 or drvdom: ssh dom0 -- CMD...")
    s.add_argument("target", choices=["dom0", "drvdom"])
    s.add_argument("--timeout", type=float, default=300)
    s.add_argument("command", nargs="*", help="the command (after --), run by root's shell")
    sub.add_parser("faults", help="print lab faults (exit 1 if any)")
    sub.add_parser("inventory", help="print the inventory file's path")
    sn = sub.add_parser("snapshot", help="snapshot save NAME | snapshot list")
    snsub = sn.add_subparsers(dest="snapcmd", required=True)
    snsub.add_parser("save").add_argument("name")
    snl = snsub.add_parser("list")
    snl.add_argument("--flavour", choices=list(flavours.FLAVOURS), help=(
        "list this flavour's snapshots (default: the running lab's, else "
        "$XENLAB_FLAVOUR, else the default)"))
    argv = list(sys.argv[1:] if argv is None else argv)
    remote_cmd: list[str] | None = None
    if argv[:1] == ["ssh"] and "--" in argv:  # everything after -- is the remote command
        i = argv.index("--")
        argv, remote_cmd = argv[:i], argv[i + 1:]
    a = p.parse_args(argv)
    try:
        if a.cmd == "prepare":
            return prepare()
        if a.cmd == "build":
            build.build(force=a.force, flavour=flavours.resolve(a.flavour))
            return 0
        if a.cmd == "up":
            return boot.up(a.from_name, a.cold, flavours.resolve(a.flavour))
        if a.cmd == "down":
            return lab.down()
        if a.cmd == "status":
            return lab.status(a.flavour)
        if a.cmd == "ssh":
            return lab.ssh_cmd(a.target, remote_cmd if remote_cmd is not None else a.command,
                               a.timeout)
        if a.cmd == "faults":
            return lab.faults_cmd()
        if a.cmd == "inventory":
            inv = run_dir() / "inventory.yaml"
            print(inv)
            return 0 if inv.is_file() else 1
        if a.cmd == "snapshot":
            if a.snapcmd == "save":
                return snapshots.save_snapshot(a.name)
            return snapshots.list_snapshots(a.flavour)
    except LabError as e:
        print(f"xenlab: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 2
