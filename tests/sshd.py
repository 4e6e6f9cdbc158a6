"""A real OpenSSH server on 127.0.0.1 for tests: its own host key, its own client key.

    with Sshd(tmp_path / "bastion", name="bastion") as bastion:
        bastion.write_known_hosts(tmp_path / "known_hosts")
        ... connect to bastion.host:bastion.port as bastion.user with bastion.client_key ...

The server is ``/usr/sbin/sshd -D -e -f CONFIG``, a child of this process (never a daemon),
listening on 127.0.0.1 only, on a free port. Keys only (root: ``prohibit-password``), TCP
forwarding allowed (a ProxyJump bastion needs it), ``LogLevel DEBUG1`` in :attr:`log`
(``direct-tcpip`` forwards and accepted logins show there). :meth:`stop` (also on leaving
the ``with``) terminates it, and kills it after a deadline.
"""

from __future__ import annotations

import getpass
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterable
from pathlib import Path

import paramiko

SSHD = "/usr/sbin/sshd"
PRIVSEP_DIR = "/run/sshd"  # sshd refuses to start without it (systemd makes it for ssh.service)


def available() -> bool:
    return os.access(SSHD, os.X_OK) and shutil.which("ssh-keygen") is not None


def keygen(path: Path, comment: str) -> Path:
    """A new passphrase-less ed25519 key pair at ``path`` (and ``path``.pub)."""
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment,
                    "-f", str(path)], check=True, capture_output=True, timeout=30)
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _locked(user: str) -> bool:
    """True when the user's password is locked ('!'): sshd then refuses it without PAM."""
    try:
        for line in Path("/etc/shadow").read_text().splitlines():
            name, _, rest = line.partition(":")
            if name == user:
                return rest.startswith("!")
    except OSError:
        pass
    return False


def _children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (from /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _stop(pids: list[int], timeout: float) -> None:
    """SIGTERM ``pids``, SIGKILL those still there after ``timeout``; wait until their
    parent has reaped them (or the deadline)."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not any(Path(f"/proc/{pid}").exists() for pid in pids):
                return
            time.sleep(0.02)


class Sshd:
    """A real sshd on 127.0.0.1 with files in ``workdir``: :attr:`host`, :attr:`port`,
    :attr:`user`, :attr:`host_key_line` (``ssh-ed25519 AAAA...``), :attr:`client_key` (a
    private key it accepts), :attr:`log`; :meth:`known_hosts_line`,
    :meth:`write_known_hosts`."""

    host = "127.0.0.1"

    def __init__(self, workdir: Path, *, name: str = "sshd", authorize: Iterable[str] = (),
                 start_timeout: float = 10.0) -> None:
        self.workdir = Path(workdir)
        self.name = name
        self.user = getpass.getuser()  # sshd not run as root can only log in its own user
        self.extra_keys = list(authorize)  # more public key lines to accept
        self.start_timeout = start_timeout
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = self.workdir / "sshd.log"
        self.client_key = self.workdir / "client_key"
        self.host_key = self.workdir / "ssh_host_ed25519_key"

    @property
    def host_key_line(self) -> str:
        """The host's public key as known_hosts has it: ``ssh-ed25519 AAAA...``."""
        return " ".join(Path(f"{self.host_key}.pub").read_text().split()[:2])

    @property
    def address(self) -> str:
        """How known_hosts names it: ``[127.0.0.1]:PORT``."""
        return f"[{self.host}]:{self.port}" if self.port != 22 else self.host

    def known_hosts_line(self, name: str | None = None, *, hashed: bool = False,
                         key_line: str | None = None) -> str:
        """A known_hosts line for this server (``name`` defaults to :attr:`address`;
        ``key_line`` to its own key: pass another key to forge a changed one)."""
        name = name or self.address
        if hashed:
            name = paramiko.HostKeys.hash_host(name)
        return f"{name} {key_line or self.host_key_line}\n"

    def write_known_hosts(self, path: Path, *, name: str | None = None, hashed: bool = False,
                          key_line: str | None = None) -> Path:
        """Append :meth:`known_hosts_line` to ``path`` (created if missing)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a") as f:
            f.write(self.known_hosts_line(name, hashed=hashed, key_line=key_line))
        return path

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def start(self) -> Sshd:
        self.workdir.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            os.makedirs(PRIVSEP_DIR, mode=0o755, exist_ok=True)
        if not self.host_key.exists():
            keygen(self.host_key, f"{self.name}-host")
        if not self.client_key.exists():
            keygen(self.client_key, f"{self.name}-client")
        authorized = self.workdir / "authorized_keys"
        authorized.write_text(Path(f"{self.client_key}.pub").read_text()
                              + "".join(k.strip() + "\n" for k in self.extra_keys))
        last = ""
        for _ in range(3):  # a free port may be taken before sshd binds it: try another
            self.port = free_port()
            config = self.workdir / "sshd_config"
            config.write_text(
                f"ListenAddress {self.host}:{self.port}\n"
                f"HostKey {self.host_key}\n"
                f"AuthorizedKeysFile {authorized}\n"
                "PermitRootLogin prohibit-password\n"
                "PubkeyAuthentication yes\n"
                "PasswordAuthentication no\n"
                "KbdInteractiveAuthentication no\n"
                f"UsePAM {'yes' if _locked(self.user) else 'no'}\n"
                "AllowTcpForwarding yes\n"
                "AllowAgentForwarding no\n"
                "X11Forwarding no\n"
                "PrintMotd no\n"
                "PidFile none\n"
                "StrictModes no\n"
                "UseDNS no\n"
                "LogLevel DEBUG1\n")
            with self.log.open("ab") as log:
                self.proc = subprocess.Popen(
                    [SSHD, "-D", "-e", "-f", str(config)], stdin=subprocess.DEVNULL,
                    stdout=log, stderr=log, start_new_session=True)  # no terminal signals
            try:
                if self._wait_banner():
                    return self
            except BaseException:
                self.stop()
                raise
            last = self.log_text()[-2000:]
            self.stop()
        raise RuntimeError(f"sshd {self.name} did not start; its log:\n{last}")

    def _wait_banner(self) -> bool:
        """Poll until the port answers with an SSH banner (False if sshd exited)."""
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                return False
            try:
                with socket.create_connection((self.host, self.port), timeout=1.0) as s:
                    s.settimeout(max(0.1, deadline - time.monotonic()))
                    if s.recv(4) == b"SSH-":
                        return True
            except OSError:
                pass
            time.sleep(0.02)
        return False

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the per-connection sshd's it forked (each in a session of its own), then
        sshd: SIGTERM by pid, SIGKILL after ``timeout``. Children go first so that sshd
        itself reaps them (an init that does not reap would keep them as zombies)."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        _stop(_children(proc.pid), timeout)
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=timeout)

    def __enter__(self) -> Sshd:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
