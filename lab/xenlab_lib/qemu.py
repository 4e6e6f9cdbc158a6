"""QEMU: command line, process (pidfile), HMP monitor, port picking."""
from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import time
from pathlib import Path

from .common import LabError, run, wait_until
from .recipe import DOM0_MGMT_MAC

BDF = "0000:00:05.0"
DOM0_MAC = DOM0_MGMT_MAC           # virtio-net, Dom0 management (DHCP by MAC in Dom0)
NIC_MAC = "52:54:00:5a:00:05"      # e1000 at 05.0, the device handed to the driver domain
MEM_MB = 4096
TB_SIZE_MB = 256
# The NIC's LAN (QEMU's user network, restrict=on): DHCP from 10.0.2.15, the gateway 10.0.2.2
# (answers ping), and a TCP server at LAN_PEER, reached by guestfwd through lanrelay.py to a
# port on 127.0.0.1 where the suite's LAN peer listens
LAN_PEER = ("10.0.2.100", 7000)
# where the forward of the driver domain's SSH port goes (hostfwd's default guest address:
# the first lease of the NIC's LAN, which the driver domain takes, the first to ask)
DRVDOM_LAN = ("10.0.2.15", 22)
RELAY = Path(__file__).with_name("lanrelay.py")
CPU = "max,smap=off,pku=off,avx=off,avx2=off,fma=off,f16c=off,vaes=off,vpclmulqdq=off"


def machine_args() -> list[str]:
    """The part of the command line that shapes the VM state: a snapshot saved with one
    set of these can only be loaded with the same set (see machine_sig). The machine boots
    like hardware: SeaBIOS, then GRUB from the disk's MBR, then Xen and Dom0."""
    return [
        "-accel", f"tcg,thread=multi,tb-size={TB_SIZE_MB}", "-M", "q35", "-cpu", CPU,
        "-smp", "2", "-m", str(MEM_MB),
        "-device", "intel-iommu,intremap=on,caching-mode=on",
    ]


def machine_sig() -> str:
    return hashlib.sha256(json.dumps(machine_args()).encode()).hexdigest()[:16]


def command(disk: Path, rund: Path, ports: dict, loadvm: str | None = None) -> list[str]:
    args = ["qemu-system-x86_64", "-name", f"xenlab-{rund.name}"] + machine_args()
    args += ["-drive", f"file={disk},if=none,id=d0,format=qcow2,cache=unsafe",
             "-device", "virtio-blk-pci,drive=d0,addr=06.0,bootindex=1"]
    args += [
        "-netdev", f"user,id=n0,restrict=on,hostfwd=tcp:127.0.0.1:{ports['dom0']}-:22",
        "-device", f"virtio-net-pci,netdev=n0,addr=03.0,mac={DOM0_MAC}",
        "-netdev", f"user,id=n1,restrict=on,hostfwd=tcp:127.0.0.1:{ports['drvdom']}-:22,"
                   f"guestfwd=tcp:{LAN_PEER[0]}:{LAN_PEER[1]}-cmd:python3 {RELAY} {ports['lan']}",
        "-device", f"e1000,netdev=n1,addr=05.0,mac={NIC_MAC}",
        "-serial", f"file:{rund / 'serial.log'}", "-display", "none", "-vga", "none",
        "-nodefaults", "-monitor", f"unix:{rund / 'mon.sock'},server,nowait",
        "-pidfile", str(rund / "qemu.pid"), "-daemonize",
    ]
    if loadvm:
        args += ["-loadvm", loadvm]
    return args


def ports_for(previous: dict | None) -> dict[str, int]:
    """The instance's ports: the ones it had before when they are still free (a host key
    the suite pinned for the driver domain names its address, port included), else new
    free ones."""
    old = (previous or {}).get("ports") or {}
    if set(old) == set(PORTS) and all(_free(p) for p in old.values()):
        return {k: int(v) for k, v in old.items()}
    return dict(zip(PORTS, free_ports(len(PORTS))))


# Dom0's SSH, the driver domain's SSH (forwarded from the NIC's LAN), the suite's LAN peer
PORTS = ("dom0", "drvdom", "lan")


def _free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as QEMU's hostfwd binds
        try:
            s.bind(("127.0.0.1", int(port)))
        except OSError:
            return False
    return True


def free_ports(n: int) -> list[int]:
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def read_pid(rund: Path) -> int | None:
    """The pid in our pidfile, if that process is alive and is a QEMU of this lab."""
    try:
        pid = int((rund / "qemu.pid").read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except (OSError, ValueError):
        return None
    if not cmdline or b"qemu-system" not in cmdline[0]:
        return None
    if str(rund / "qemu.pid").encode() not in cmdline:
        return None
    return pid


def peak_rss_mb(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) // 1024
    except OSError:
        return None
    return None


class Monitor:
    """Minimal HMP client over the unix socket."""

    PROMPT = b"(qemu) "

    def __init__(self, path: Path, timeout: float = 10.0) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(str(path))
        self._read_prompt(timeout)

    def _read_prompt(self, timeout: float) -> str:
        end = time.monotonic() + timeout
        buf = b""
        while not buf.endswith(self.PROMPT):
            left = end - time.monotonic()
            if left <= 0:
                raise LabError(f"QEMU monitor: no prompt within {timeout:.0f}s")
            self.sock.settimeout(left)
            chunk = self.sock.recv(65536)
            if not chunk:
                break
            buf += chunk
        return buf.decode(errors="replace")

    def cmd(self, line: str, timeout: float = 30.0) -> str:
        self.sock.sendall(line.encode() + b"\n")
        out = self._read_prompt(timeout)
        # strip the echoed command (with terminal escapes) and the prompt
        out = out[: -len(self.PROMPT)] if out.endswith("(qemu) ") else out
        lines = out.replace("\r", "").split("\n")
        return "\n".join(l for l in lines[1:]).strip()

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


def monitor_cmd(rund: Path, line: str, timeout: float = 30.0) -> str:
    m = Monitor(rund / "mon.sock")
    try:
        return m.cmd(line, timeout)
    finally:
        m.close()


def stop(rund: Path, deadline_s: float = 30.0) -> bool:
    """Stop our QEMU (by pidfile only): monitor quit, then SIGTERM, then SIGKILL."""
    pid = read_pid(rund)
    if pid is None:
        return False
    try:
        m = Monitor(rund / "mon.sock", timeout=5)
        try:
            m.sock.sendall(b"quit\n")
            # closed at once, the socket's EOF may reach QEMU before the command does, and
            # QEMU drops it (then SIGTERM after 15 s): read until QEMU closes its end
            while m.sock.recv(4096):
                pass
        finally:
            m.close()
    except (OSError, LabError):
        pass
    gone = lambda: read_pid(rund) != pid  # noqa: E731
    for sig, wait in ((None, deadline_s / 2), (signal.SIGTERM, deadline_s / 4),
                      (signal.SIGKILL, deadline_s / 4)):
        if sig is not None:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                break
        try:
            wait_until(f"QEMU pid {pid} to exit", gone, deadline_s=wait, interval=0.2)
            break
        except LabError:
            continue
    (rund / "qemu.pid").unlink(missing_ok=True)
    return True


def qemu_img(*args: str, timeout: float = 120, capture: bool = True):
    return run(["qemu-img", *args], timeout=timeout, capture=capture)
