"""The SSH transport: one fabric connection per host, host keys verified, commands bounded.

A spec is resolved into hops (:mod:`xenaccept.sshconfig`: the user's ssh_config, ProxyJump,
the suite's own jump host); each jump hop is a fabric :class:`Connection` given as the
``gateway`` of the next one. Fabric accepts any host key by default (it installs paramiko's
AutoAddPolicy): here every hop's client gets :class:`paramiko.RejectPolicy` and that hop's
known_hosts files, so an unknown key is refused, and a changed key is refused by paramiko
itself, on every hop.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import socket
import time

import paramiko
from fabric import Config, Connection
from invoke.exceptions import CommandTimedOut

from xenaccept.errors import CommandTimeout, HarnessError, HostKeyError
from xenaccept.model.ssh import SSHSpec
from xenaccept.transport import sshconfig, wait
from xenaccept.transport.runner import Result, Runner, Transcript
from xenaccept.transport.shell import ShellLost, ShellSession, suitable


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
        hops = self.hops
        hop = hops[index]
        if index % len(hops) < len(hops) - 1:
            return f"{self.name} via {_label(hop)} ({hop.address})"
        via = " via " + ", ".join(map(_label, hops[:-1])) if len(hops) > 1 else ""
        return f"{self.name} ({hop.address}{via})"

    def _connection(self) -> Connection:
        if self._conn is not None and self._conn.is_connected:
            return self._conn
        self._close_chain()
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
        hops = self.hops
        chain: list[Connection] = []
        for i, hop in enumerate(hops):
            # inside a wait, an attempt gives up sooner: a booting host's port forward may
            # hold the connection without a banner, and each second spent on a doomed
            # attempt is a second the wait may notice late
            limit = min(hop.connect_timeout, self.probe_timeout) if wait.waiting() \
                else hop.connect_timeout
            kwargs = {"key_filename": list(hop.key_files), "look_for_keys": False,
                      "allow_agent": hop.allow_agent, "banner_timeout": limit,
                      "auth_timeout": limit}
            if i < len(hops) - 1:  # a jump host: bounds the forward to the next hop
                kwargs["channel_timeout"] = limit
            conn = Connection(
                host=hop.hostname, user=hop.user, port=hop.port, connect_timeout=limit,
                gateway=chain[-1] if chain else None,
                # an empty ssh_config and no config files: fabric must not apply the user's
                # ssh_config (ProxyCommand, ...) on its own; the hops are already resolved
                config=Config(ssh_config=paramiko.SSHConfig(), lazy=True),
                connect_kwargs=kwargs)
            chain.append(conn)
            conn.client.set_missing_host_key_policy(paramiko.RejectPolicy())
            for path in hop.known_hosts:
                if not os.path.exists(path):
                    continue
                try:
                    conn.client.get_host_keys().load(path)
                except OSError as e:
                    self._close_chain(chain)
                    raise HostKeyError(f"{self.where(i)}: cannot read known_hosts {path}: "
                                       f"{e}") from e
        try:
            chain[-1].open()  # fabric opens the gateways first, each through the one before
        except Exception as e:
            # the hop that failed: the first one fabric did not finish opening
            failed = next((i for i, c in enumerate(chain) if c.transport is None), -1)
            self._close_chain(chain)
            error = self._failure(e, failed)
            if error is e:
                raise
            raise error from e
        self._chain = chain
        return chain[-1]

    def _failure(self, e: Exception, i: int) -> Exception:
        hop, where = self.hops[i], self.where(i)
        files = ", ".join(hop.known_hosts) or "no known_hosts file"
        if isinstance(e, paramiko.BadHostKeyException):
            return HostKeyError(
                f"{where}: host key CHANGED, refusing to connect "
                f"(got {e.key.get_name()} {e.key.get_fingerprint().hex()}; check {files})")
        if isinstance(e, paramiko.SSHException) and "not found in known_hosts" in str(e):
            return HostKeyError(f"{where}: host key UNKNOWN, refusing to connect "
                                f"(not in {files})")
        # the jump host could not open the forward ("Unable to open channel.", "Timeout
        # opening channel.", or the server's refusal as a ChannelException)
        forward = isinstance(e, paramiko.ChannelException) or \
            isinstance(e, paramiko.SSHException) and "channel." in str(e)
        if i > 0 and forward:
            return HarnessError(f"{where}: unreachable from {_label(self.hops[i - 1])}: {e}")
        if isinstance(e, paramiko.SSHException):
            return HarnessError(f"{where}: SSH failed: {e}")
        if isinstance(e, (OSError, socket.timeout, EOFError)):
            return HarnessError(f"{where}: unreachable: {e}")
        return e

    def connect(self) -> None:
        """Open the connection now (raises HarnessError / HostKeyError)."""
        self._connection()

    @property
    def direct(self) -> bool:
        """True when the target is reached without a jump host."""
        return len(self.hops) == 1

    def banner(self, timeout: float) -> bool:
        """True when the SSH server sends its version banner within ``timeout``: a cheap
        probe (no login) for a host that is still booting, where a port forward may accept
        the TCP connection long before anything answers behind it. Direct connections
        only: behind a jump host the login through the jump is the probe."""
        if not self.direct:
            raise HarnessError(f"{self.where()}: no banner probe through a jump host")
        hop = self.hops[0]
        deadline = time.monotonic() + timeout
        try:
            with socket.create_connection((hop.hostname, hop.port), timeout=timeout) as sock:
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
        """Poll until a trivial command answers; returns the seconds it took. Each poll of a
        direct connection first waits at most 2 s for the server's banner, and logs in only
        once there is one."""
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
                   what=f"{self.where()} to answer over SSH")
        return time.monotonic() - start

    def _execute(self, command: str, timeout: float, stdin: str | None) -> tuple[int, str, str]:
        conn = self._connection()
        if stdin is not None:
            return self._execute_with_stdin(conn, command, timeout, stdin)
        if suitable(shlex.split(command)[0]):
            return self._execute_in_shell(conn, command, timeout)
        start = time.monotonic()
        try:
            r = conn.run(command, hide=True, warn=True, timeout=timeout, pty=False,
                         in_stream=False)
        except CommandTimedOut as e:
            self.close()  # the channel may still be busy: start afresh next time
            raise CommandTimeout(
                f"`{command}` on {self.name} did not finish in {timeout:g} s") from e
        except (paramiko.SSHException, OSError, EOFError) as e:
            self.close()
            raise HarnessError(f"`{command}` on {self.name}: connection lost: {e}") from e
        if r.exited is None or r.exited < 0:  # the channel closed without an exit status
            self.close()
            if time.monotonic() - start >= timeout:  # invoke's timer closed it (a race in
                raise CommandTimeout(                 # invoke: seen once without the error)
                    f"`{command}` on {self.name} did not finish in {timeout:g} s")
            raise HarnessError(f"`{command}` on {self.name}: connection lost (no exit status)")
        return r.exited, r.stdout, r.stderr

    def _execute_in_shell(self, conn: Connection, command: str,
                          timeout: float) -> tuple[int, str, str]:
        """The command in the connection's long-lived shell (:mod:`.shell`)."""
        start = time.monotonic()
        try:
            if self._shell is None or not self._shell.alive:
                transport = conn.client.get_transport()
                if transport is None:
                    raise HarnessError(f"`{command}` on {self.name}: no SSH transport")
                self._shell = ShellSession(transport, timeout=min(timeout, 30.0))
            status, out, err = self._shell.run(command, timeout)
        except ShellLost as e:
            self.close()
            if time.monotonic() - start >= timeout:
                raise CommandTimeout(
                    f"`{command}` on {self.name} did not finish in {timeout:g} s") from e
            raise HarnessError(f"`{command}` on {self.name}: connection lost: {e}") from e
        except (paramiko.SSHException, OSError, EOFError) as e:
            self.close()
            raise HarnessError(f"`{command}` on {self.name}: connection lost: {e}") from e
        return status, out.decode(errors="replace"), err.decode(errors="replace")

    def _execute_with_stdin(self, conn: Connection, command: str, timeout: float,
                            stdin: str) -> tuple[int, str, str]:
        """A command fed ``stdin`` on its own channel: all of it sent, then EOF. (invoke's
        stdin pump loses the channel on inputs of some 100 kB: "Socket is closed".)"""
        deadline = time.monotonic() + timeout
        transport = conn.client.get_transport()
        if transport is None:
            raise HarnessError(f"`{command}` on {self.name}: no SSH transport")
        out, err = bytearray(), bytearray()
        try:
            channel = transport.open_session(timeout=min(timeout, 30.0))
            try:
                channel.settimeout(max(1.0, timeout))
                channel.exec_command(command)
                channel.sendall(stdin.encode())
                channel.shutdown_write()
                channel.settimeout(0.5)
                while not (channel.exit_status_ready() and not channel.recv_ready()
                           and not channel.recv_stderr_ready()):
                    if time.monotonic() > deadline:
                        raise CommandTimeout(
                            f"`{command}` on {self.name} did not finish in {timeout:g} s")
                    try:
                        chunk = channel.recv(65536)
                        out += chunk
                    except TimeoutError:
                        pass
                    while channel.recv_stderr_ready():
                        err += channel.recv_stderr(65536)
                    if channel.closed and not channel.recv_ready():
                        break
                status = channel.recv_exit_status() if channel.exit_status_ready() else -1
            finally:
                channel.close()
        except CommandTimeout:
            self.close()
            raise
        except (paramiko.SSHException, OSError, EOFError) as e:
            self.close()
            raise HarnessError(f"`{command}` on {self.name}: connection lost: {e}") from e
        if status < 0:
            self.close()
            raise HarnessError(f"`{command}` on {self.name}: connection lost (no exit status)")
        return status, out.decode(errors="replace"), err.decode(errors="replace")

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

    def _close_chain(self, chain: list[Connection] | None = None) -> None:
        """Close every hop, the target first (also hops whose opening failed half-way)."""
        if chain is None:
            chain, self._chain, self._conn = self._chain, [], None
            if self._shell is not None:
                self._shell.close()
                self._shell = None
        for conn in reversed(chain):
            with contextlib.suppress(Exception):  # closing a broken hop may fail: ignored
                conn.close()
            conn.client.close()

    def close(self) -> None:
        self._close_chain()
        super().close()

    def retarget(self, spec: SSHSpec) -> None:
        """Reach the host another way from now on (e.g. with a key made for the run)."""
        self._close_chain()
        self.spec, self._hops, self._down = spec, None, None


def _label(hop: sshconfig.Hop) -> str:
    """A jump host in messages: its alias, or its address and port when it has none."""
    return hop.name if hop.name != hop.hostname else f"{hop.hostname}:{hop.port}"
