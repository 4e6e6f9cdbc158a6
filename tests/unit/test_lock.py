"""The host lock taken on a channel of its own, beside the run's first reads."""

from __future__ import annotations

import threading

import pytest

from xenaccept.transport import lock


class Channel:
    def __init__(self, first: bytes, status: int = 0, gate: threading.Event | None = None):
        self.first, self.status, self.gate, self.closed = first, status, gate, False

    def recv(self, n: int) -> bytes:
        if self.gate is not None:
            assert self.gate.wait(5)
        out, self.first = self.first[:n], self.first[n:]
        return out

    def recv_exit_status(self) -> int:
        return self.status

    def close(self) -> None:
        self.closed = True


class Runner:
    name = "dom0"

    class spec:
        address = "10.0.0.2"

    def __init__(self, channel: Channel) -> None:
        self.channel, self.commands = channel, []

    def open_channel(self, command: str, timeout: float = 20.0) -> Channel:
        self.commands.append(command)
        return self.channel


def test_the_lock_is_taken_while_the_caller_reads_and_held_after_wait():
    gate = threading.Event()
    runner = Runner(Channel(b"locked\n", gate=gate))
    # begin returns while flock has not answered (its channel blocks until the gate opens)
    pending = lock.begin(runner, exclusive=True)  # type: ignore[arg-type]
    gate.set()
    held = pending.wait()
    assert held.channel is runner.channel and not runner.channel.closed
    assert "flock -n -E 75 -x" in runner.commands[0]
    held.release()
    assert runner.channel.closed


def test_a_busy_host_is_said_at_wait_and_nothing_is_held():
    runner = Runner(Channel(b"", status=lock.BUSY))
    pending = lock.begin(runner, exclusive=False)  # type: ignore[arg-type]
    with pytest.raises(lock.HostLocked, match="locked by another xenaccept run"):
        pending.wait()
    assert runner.channel.closed


def test_an_abandoned_lock_is_let_go():
    runner = Runner(Channel(b"locked\n"))
    pending = lock.begin(runner, exclusive=True)  # type: ignore[arg-type]
    pending.abandon()
    assert runner.channel.closed


def test_a_broken_channel_is_said_at_wait_as_a_harness_error():
    from xenaccept.errors import HarnessError

    class Broken(Runner):
        def open_channel(self, command: str, timeout: float = 20.0) -> Channel:
            raise OSError("channel refused")
    pending = lock.begin(Broken(Channel(b"")), exclusive=True)  # type: ignore[arg-type]
    with pytest.raises(HarnessError, match="could not take .*channel refused"):
        pending.wait()
