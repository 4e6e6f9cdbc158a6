"""The ways a command runs on an open SSH connection, each bounded by its timeout: an exec
channel of its own, the connection's long-lived shell (:mod:`.shell`), a channel fed an
input, and a channel held open for as long as the connection lives.

Each takes ``lost``, what to do when the connection can no longer be trusted (the runner
closes it, to start afresh on the next command), and raises
:class:`~xenaccept.errors.CommandTimeout` or :class:`~xenaccept.errors.HarnessError`.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import paramiko
from fabric import Connection
from invoke.exceptions import CommandTimedOut

from xenaccept.errors import CommandTimeout, HarnessError
from xenaccept.transport.shell import ShellLost, ShellSession

Output = tuple[int, str, str]


def _timed_out(command: str, name: str, timeout: float) -> CommandTimeout:
    return CommandTimeout(f"`{command}` on {name} did not finish in {timeout:g} s")


def _lost(command: str, name: str, why: object) -> HarnessError:
    return HarnessError(f"`{command}` on {name}: connection lost: {why}")


def in_exec(conn: Connection, name: str, command: str, timeout: float,
            lost: Callable[[], None]) -> Output:
    """The command on an exec channel of its own (fabric's ``run``)."""
    start = time.monotonic()
    try:
        r = conn.run(command, hide=True, warn=True, timeout=timeout, pty=False,
                     in_stream=False)
    except CommandTimedOut as e:
        lost()  # the channel may still be busy: start afresh next time
        raise _timed_out(command, name, timeout) from e
    except (paramiko.SSHException, OSError, EOFError) as e:
        lost()
        raise _lost(command, name, e) from e
    if r.exited is None or r.exited < 0:  # the channel closed without an exit status
        lost()
        if time.monotonic() - start >= timeout:  # invoke's timer closed it (a race in
            raise _timed_out(command, name, timeout)  # invoke: seen once without the error)
        raise HarnessError(f"`{command}` on {name}: connection lost (no exit status)")
    return r.exited, r.stdout, r.stderr


def in_shell(shell: Callable[[], ShellSession], name: str, command: str, timeout: float,
             lost: Callable[[], None]) -> Output:
    """The command in the connection's long-lived shell (``shell()`` gives it, opening it
    when there is none)."""
    start = time.monotonic()
    try:
        status, out, err = shell().run(command, timeout)
    except ShellLost as e:
        lost()
        if time.monotonic() - start >= timeout:
            raise _timed_out(command, name, timeout) from e
        raise _lost(command, name, e) from e
    except (paramiko.SSHException, OSError, EOFError) as e:
        lost()
        raise _lost(command, name, e) from e
    return status, out.decode(errors="replace"), err.decode(errors="replace")


def new_shell(conn: Connection, name: str, command: str, timeout: float) -> ShellSession:
    transport = conn.client.get_transport()
    if transport is None:
        raise HarnessError(f"`{command}` on {name}: no SSH transport")
    return ShellSession(transport, timeout=min(timeout, 30.0))


def with_stdin(conn: Connection, name: str, command: str, timeout: float, stdin: str,
               lost: Callable[[], None]) -> Output:
    """A command fed ``stdin`` on its own channel: all of it sent, then EOF. (invoke's
    stdin pump loses the channel on inputs of some 100 kB: "Socket is closed".)"""
    deadline = time.monotonic() + timeout
    transport = conn.client.get_transport()
    if transport is None:
        raise HarnessError(f"`{command}` on {name}: no SSH transport")
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
                    raise _timed_out(command, name, timeout)
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
        lost()
        raise
    except (paramiko.SSHException, OSError, EOFError) as e:
        lost()
        raise _lost(command, name, e) from e
    if status < 0:
        lost()
        raise HarnessError(f"`{command}` on {name}: connection lost (no exit status)")
    return status, out.decode(errors="replace"), err.decode(errors="replace")


def held(conn: Connection, name: str, command: str, timeout: float) -> paramiko.Channel:
    """``command`` started on a channel of its own, returned open: for a process that must
    live exactly as long as the connection (a lock holder)."""
    transport = conn.client.get_transport()
    if transport is None:
        raise HarnessError(f"{name}: no SSH transport")
    channel = transport.open_session(timeout=timeout)
    channel.settimeout(timeout)
    channel.exec_command(command)
    return channel
