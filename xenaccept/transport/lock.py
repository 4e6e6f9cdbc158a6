"""One run at a time per host: a ``flock`` on Dom0 held for as long as the run's SSH
connection lives (a holder process that ends when its channel closes or the link drops).

A provisioning run takes the lock exclusively (creating ``/run/lock/xenaccept.lock``, on a
tmpfs); a check run takes it shared, and only if the file exists, so that check mode creates
nothing. Check runs may overlap each other, never a provisioning run.

:func:`begin` takes the lock on a channel of its own while the caller goes on reading the
host on the connection's shell (reads only: nothing may change the host before
:meth:`Pending.wait` returns): under emulation a channel and its ``flock`` cost most of a
second, which then hides behind the reads.
"""

from __future__ import annotations

import shlex
import threading

import paramiko

from xenaccept.errors import HarnessError
from xenaccept.names import LOCK_FILE
from xenaccept.transport.ssh import SSHRunner

BUSY = 75


class HostLocked(HarnessError):
    """Another run holds the host."""


class HostLock:
    def __init__(self, runner: SSHRunner, channel: paramiko.Channel | None) -> None:
        self.runner = runner
        self.channel = channel

    def release(self) -> None:
        if self.channel is not None:
            self.channel.close()
            self.channel = None


def acquire(runner: SSHRunner, *, exclusive: bool, timeout: float = 20.0) -> HostLock:
    mode = "-x" if exclusive else "-s"
    holder = "echo locked; exec cat >/dev/null"
    command = shlex.join(["flock", "-n", "-E", str(BUSY), mode, LOCK_FILE, "sh", "-c", holder])
    if not exclusive:  # only if the file exists: a check run creates nothing
        command = shlex.join(["sh", "-c", '[ -e "$1" ] || { echo unlocked; exit 0; }; '
                              'shift; exec "$@"', "sh", LOCK_FILE, *shlex.split(command)])
    channel = runner.open_channel(command, timeout=timeout)
    first = b""
    while not first.endswith(b"\n"):
        try:
            chunk = channel.recv(64)
        except TimeoutError as e:
            channel.close()
            raise HarnessError(f"{runner.name}: no answer from flock within {timeout:g} s") from e
        if not chunk:
            break
        first += chunk
    if first.strip() == b"locked":
        return HostLock(runner, channel)
    if first.strip() == b"unlocked":
        channel.close()
        return HostLock(runner, None)  # no provisioning run ever locked this host
    status = channel.recv_exit_status()
    channel.close()
    if status == BUSY:
        raise HostLocked(
            f"{runner.name} ({runner.spec.address}) is locked by another xenaccept run "
            f"({LOCK_FILE}); refusing to run concurrently")
    raise HarnessError(f"{runner.name}: could not take {LOCK_FILE} (flock exited {status})")


class Pending:
    """:func:`acquire` under way in a thread of its own."""

    def __init__(self, runner: SSHRunner, exclusive: bool, timeout: float) -> None:
        self._held: HostLock | None = None
        self._error: HarnessError | None = None
        self._thread = threading.Thread(target=self._take, args=(runner, exclusive, timeout),
                                        name=f"lock {runner.name}", daemon=True)
        self._thread.start()

    def _take(self, runner: SSHRunner, exclusive: bool, timeout: float) -> None:
        try:
            self._held = acquire(runner, exclusive=exclusive, timeout=timeout)
        except HarnessError as e:
            self._error = e
        except Exception as e:  # noqa: BLE001 - said by wait(), in the caller's thread
            self._error = HarnessError(f"{runner.name}: could not take {LOCK_FILE}: {e}")

    def wait(self) -> HostLock:
        """The lock, once taken (raises what :func:`acquire` raised)."""
        self._thread.join()
        if self._error is not None:
            raise self._error
        assert self._held is not None
        return self._held

    def abandon(self) -> None:
        """The caller gives up: the lock, if it was taken, is let go."""
        self._thread.join()
        if self._held is not None:
            self._held.release()


def begin(runner: SSHRunner, *, exclusive: bool, timeout: float = 20.0) -> Pending:
    """Start taking the lock on ``runner``'s open connection (see the module)."""
    return Pending(runner, exclusive, timeout)
