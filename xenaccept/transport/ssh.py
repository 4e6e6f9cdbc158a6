"""The SSH transport: one connection per host, host keys verified, commands bounded.

A spec is resolved into hops (:mod:`.sshconfig`: the user's ssh_config, ProxyJump, the
suite's own jump host) and connected through them with every hop's host key verified
(:mod:`.hops`); commands run on the connection's long-lived shell, an exec channel or a
channel fed their input (:mod:`.channels`). After a failed connection, further commands fail
at once for a while; waits retry anyway.
"""

from __future__ import annotations

import shlex
import threading
import time

import paramiko
from fabric import Connection

from xenaccept.errors import HarnessError, HostKeyError
from xenaccept.model.ssh import PUBLISHED, UNPLACED, SSHSpec
from xenaccept.transport import channels, sshconfig, wait
from xenaccept.transport import hops as hopchain
from xenaccept.transport.runner import Result, Runner, Transcript
from xenaccept.transport.shell import ShellSession, suitable
from xenaccept.transport.sshconfig import Hop


class SSHRunner(Runner):
    def __init__(self, name: str, spec: SSHSpec, *, read_only: bool,
                 transcript: Transcript | None = None, default_timeout: float = 60.0) -> None:
        super().__init__(name, read_only=read_only, transcript=transcript,
                         default_timeout=default_timeout)
        self.spec = spec
        self._conn: Connection | None = None
        self._chain: list[Connection] = []  # the open hops, jump hosts first, _conn last
        self._shell: ShellSession | None = None  # runs the commands without an input
        self._hops: tuple[sshconfig.Hop, ...] | None = None
        self.connects = 0  # how many SSH connections (whole chains) this runner opened
        # after a failed connection, further commands fail at once for a while (a host
        # that is down costs one connect timeout, not one per command); waits retry anyway
        self._down: tuple[float, str] | None = None
        self.down_for = 60.0
        self.probe_timeout = 4.0  # connect, banner and auth limit of an attempt in a wait
        self._ahead: threading.Thread | None = None  # a connection opening in the background

    @property
    def hops(self) -> tuple[sshconfig.Hop, ...]:
        """Where this runner connects: jump hosts first, the target last (resolved once;
        raises InventoryError)."""
        if self._hops is None:
            self._hops = sshconfig.resolve(self.spec)
        return self._hops

    def where(self, index: int = -1) -> str:
        """A hop as error messages name it: ``dom0 via bastion (root@h:2201)`` for a jump
        host, ``dom0 (root@10.0.0.2:22 via bastion)`` for the target."""
        return hopchain.where(self.name, self.hops, index)

    def _connection(self) -> Connection:
        self._join_ahead()
        return self._connect_now()

    def _join_ahead(self) -> None:
        ahead, self._ahead = self._ahead, None
        if ahead is not None:
            ahead.join()

    def _connect_now(self) -> Connection:
        if self._conn is not None and self._conn.is_connected:
            return self._conn
        if self.spec.host == PUBLISHED:
            raise HarnessError(f"{self.name}: {UNPLACED}")
        self._close_chain()
        if self._down is not None and not self.patience:
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
        self._join_ahead()
        return self._down is None

    def _open(self) -> Connection:
        # inside a wait, an attempt gives up sooner: a booting host's port forward may hold
        # the connection without a banner, and each second spent on a doomed attempt is a
        # second the wait may notice late
        def limit(hop: Hop) -> float:
            return min(hop.connect_timeout, self.probe_timeout) if self.patience \
                else hop.connect_timeout
        self._chain = hopchain.open_chain(self.name, self.hops, limit)
        return self._chain[-1]

    def connect(self) -> None:
        """Open the connection now (raises HarnessError / HostKeyError)."""
        self._connection()

    def connect_ahead(self) -> None:
        """Start opening the connection in a thread, while other work goes on; the first
        command waits for it. A failure is kept as any failed connection is (the commands
        that follow fail at once for a while, saying why), not raised here."""
        self._join_ahead()

        def opener() -> None:
            try:
                self._connect_now()
            except HarnessError:
                pass

        self._ahead = threading.Thread(target=opener, name=f"xenaccept-connect-{self.name}",
                                       daemon=True)
        self._ahead.start()

    @property
    def direct(self) -> bool:
        """True when the target is reached without a jump host."""
        return len(self.hops) == 1

    def banner(self, timeout: float) -> bool:
        """True when the SSH server sends its version banner within ``timeout``
        (:func:`.hops.banner`). Direct connections only: behind a jump host the login
        through the jump is the probe."""
        if not self.direct:
            raise HarnessError(f"{self.where()}: no banner probe through a jump host")
        return hopchain.banner(self.hops[0].hostname, self.hops[0].port, timeout)

    def wait_reachable(self, timeout: float, interval: float = 0.25,
                       history: list[wait.Waited] | None = None) -> float:
        """Poll until a trivial command answers; returns the seconds it took. Each poll of a
        direct connection first waits at most 2 s for the server's banner, and logs in only
        once there is one."""
        self._join_ahead()
        start = time.monotonic()

        def answers() -> bool:
            if self._conn is None and self.direct and \
                    not self.banner(min(2.0, self.probe_timeout)):
                raise HarnessError(f"{self.where()}: no SSH banner yet")
            try:
                return self.run("true", timeout=20.0).ok
            except HostKeyError:
                raise
            except HarnessError:
                self.close()
                raise

        wait.until(answers, timeout=timeout, interval=interval,
                   what=f"{self.where()} to answer over SSH", patient=(self,), history=history)
        return time.monotonic() - start

    def _execute(self, command: str, timeout: float, stdin: str | None) -> tuple[int, str, str]:
        conn = self._connection()
        if stdin is not None:
            return channels.with_stdin(conn, self.name, command, timeout, stdin, self.close)
        if suitable(shlex.split(command)[0]):
            def shell() -> ShellSession:
                if self._shell is None or not self._shell.alive:
                    self._shell = channels.new_shell(conn, self.name, command, timeout)
                return self._shell
            return channels.in_shell(shell, self.name, command, timeout, self.close)
        return channels.in_exec(conn, self.name, command, timeout, self.close)

    def open_channel(self, command: str, timeout: float = 20.0) -> paramiko.Channel:
        """Start ``command`` (already quoted) on its own channel and return the channel: for a
        process that must live exactly as long as this connection (a lock holder)."""
        channel = channels.held(self._connection(), self.name, command, timeout)
        self.transcript.add(Result(self.name, command, 0, "(held for the run)", "", 0.0,
                                   mutates=False))
        return channel

    def _close_chain(self, chain: list[Connection] | None = None) -> None:
        """Close every hop, the target first (also hops whose opening failed half-way)."""
        if chain is None:
            chain, self._chain, self._conn = self._chain, [], None
            if self._shell is not None:
                self._shell.close()
                self._shell = None
        hopchain.close_chain(chain)

    def close(self) -> None:
        self._join_ahead()
        self._close_chain()
        super().close()

    def retarget(self, spec: SSHSpec) -> None:
        """Reach the host another way from now on (e.g. with a key made for the run)."""
        self._join_ahead()
        self._close_chain()
        self.spec, self._hops, self._down = spec, None, None
