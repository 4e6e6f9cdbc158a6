"""The SSH transport: one fabric connection per host, host keys verified, commands bounded.

Fabric accepts any host key by default (it installs paramiko's AutoAddPolicy). Here the
client's policy is set to :class:`paramiko.RejectPolicy` and the inventory's known_hosts is
loaded, so an unknown key is refused, and a changed key is refused by paramiko itself.
"""

from __future__ import annotations

import io
import socket
import time
from dataclasses import dataclass

import paramiko
from fabric import Connection
from invoke.exceptions import CommandTimedOut

from . import wait
from .errors import CommandTimeout, HarnessError, HostKeyError
from .runner import Result, Runner, Transcript


@dataclass(frozen=True)
class SSHSpec:
    host: str
    port: int
    user: str
    key_file: str
    known_hosts: str
    connect_timeout: float = 15.0

    @property
    def address(self) -> str:
        return f"{self.user}@{self.host}:{self.port}"


class SSHRunner(Runner):
    def __init__(self, name: str, spec: SSHSpec, *, read_only: bool,
                 transcript: Transcript | None = None, default_timeout: float = 60.0) -> None:
        super().__init__(name, read_only=read_only, transcript=transcript,
                         default_timeout=default_timeout)
        self.spec = spec
        self._conn: Connection | None = None
        self.connects = 0  # how many SSH connections this runner opened
        # after a failed connection, further commands fail at once for a while (a host
        # that is down costs one connect timeout, not one per command); waits retry anyway
        self._down: tuple[float, str] | None = None
        self.down_for = 60.0
        self.probe_timeout = 4.0  # connect, banner and auth limit of an attempt in a wait

    def _connection(self) -> Connection:
        if self._conn is not None and self._conn.is_connected:
            return self._conn
        if self._conn is not None:
            self._conn.close()
        if self._down is not None and not wait.waiting():
            since, why = self._down
            if time.monotonic() - since < self.down_for:
                raise HarnessError(f"{self.name} unreachable (tried {time.monotonic() - since:.0f}"
                                   f" s ago): {why}")
        try:
            conn = self._open()
        except HarnessError as e:
            if not isinstance(e, HostKeyError):
                self._down = (time.monotonic(), str(e))
            raise
        self._down = None
        self.connects += 1
        self._conn = conn
        return conn

    @property
    def reachable(self) -> bool:
        """False while the last connection attempt failed (recently)."""
        return self._down is None

    def _open(self) -> Connection:
        s = self.spec
        # inside a wait, an attempt gives up sooner: a booting host's port forward may hold
        # the connection without a banner, and each second spent on a doomed attempt is a
        # second the wait may notice late
        limit = min(s.connect_timeout, self.probe_timeout) if wait.waiting() \
            else s.connect_timeout
        conn = Connection(
            host=s.host, user=s.user, port=s.port, connect_timeout=limit,
            connect_kwargs={"key_filename": [s.key_file], "look_for_keys": False,
                            "allow_agent": False, "banner_timeout": limit,
                            "auth_timeout": limit},
        )
        conn.client.set_missing_host_key_policy(paramiko.RejectPolicy())
        try:
            conn.client.load_host_keys(s.known_hosts)
        except OSError as e:
            raise HostKeyError(f"{self.name}: cannot read known_hosts {s.known_hosts}: {e}") from e
        try:
            conn.open()
        except paramiko.BadHostKeyException as e:
            raise HostKeyError(
                f"{self.name} ({s.address}): host key CHANGED, refusing to connect "
                f"(got {e.key.get_name()} {e.key.get_fingerprint().hex()}; "
                f"check {s.known_hosts})") from e
        except paramiko.SSHException as e:
            if "not found in known_hosts" in str(e):
                raise HostKeyError(
                    f"{self.name} ({s.address}): host key UNKNOWN, refusing to connect "
                    f"(not in {s.known_hosts})") from e
            raise HarnessError(f"{self.name} ({s.address}): SSH failed: {e}") from e
        except (OSError, socket.timeout, EOFError) as e:
            raise HarnessError(f"{self.name} ({s.address}): unreachable: {e}") from e
        return conn

    def connect(self) -> None:
        """Open the connection now (raises HarnessError / HostKeyError)."""
        self._connection()

    def banner(self, timeout: float) -> bool:
        """True when the SSH server sends its version banner within ``timeout``: a cheap
        probe (no login) for a host that is still booting, where a port forward may accept
        the TCP connection long before anything answers behind it."""
        deadline = time.monotonic() + timeout
        try:
            with socket.create_connection((self.spec.host, self.spec.port),
                                          timeout=timeout) as sock:
                data = b""
                while len(data) < 4:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        return False
                    sock.settimeout(left)
                    chunk = sock.recv(4 - len(data))
                    if not chunk:
                        return False
                    data += chunk
                return data == b"SSH-"
        except OSError:
            return False

    def wait_reachable(self, timeout: float, interval: float = 0.25) -> float:
        """Poll until a trivial command answers; returns the seconds it took. Each poll first
        waits at most 2 s for the server's banner, and logs in only once there is one."""
        start = time.monotonic()

        def answers() -> bool:
            if self._conn is None and not self.banner(min(2.0, self.probe_timeout)):
                raise HarnessError(f"{self.name} ({self.spec.address}): no SSH banner yet")
            try:
                return self.run("true", timeout=20.0).ok
            except HostKeyError:
                raise
            except HarnessError:
                self.close()
                raise

        wait.until(answers, timeout=timeout, interval=interval,
                   what=f"{self.name} ({self.spec.address}) to answer over SSH")
        return time.monotonic() - start

    def _execute(self, command: str, timeout: float, stdin: str | None) -> tuple[int, str, str]:
        conn = self._connection()
        try:
            r = conn.run(command, hide=True, warn=True, timeout=timeout, pty=False,
                         in_stream=io.StringIO(stdin) if stdin is not None else False)
        except CommandTimedOut as e:
            self.close()  # the channel may still be busy: start afresh next time
            raise CommandTimeout(
                f"`{command}` on {self.name} did not finish in {timeout:g} s") from e
        except (paramiko.SSHException, OSError, EOFError) as e:
            self.close()
            raise HarnessError(f"`{command}` on {self.name}: connection lost: {e}") from e
        if r.exited is None or r.exited < 0:  # the channel closed without an exit status
            self.close()
            raise HarnessError(f"`{command}` on {self.name}: connection lost (no exit status)")
        return r.exited, r.stdout, r.stderr

    def open_channel(self, command: str, timeout: float = 20.0) -> paramiko.Channel:
        """Start ``command`` (already quoted) on its own channel and return the channel: for a
        process that must live exactly as long as this connection (a lock holder)."""
        transport = self._connection().client.get_transport()
        if transport is None:
            raise HarnessError(f"{self.name}: no SSH transport")
        channel = transport.open_session(timeout=timeout)
        channel.settimeout(timeout)
        channel.exec_command(command)
        self.transcript.add(Result(self.name, command, 0, "(held for the run)", "", 0.0,
                                   mutates=False))
        return channel

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None
