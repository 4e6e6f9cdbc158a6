"""One long-lived ``sh`` on an SSH channel that runs the runner's commands one after another.

A command on its own exec channel costs a channel, a fork of sshd and the user's login shell
before the command itself: 0.18 s in the lab's Dom0 (a PV domain under TCG, where every
fork+exec is slow), against 0.44 s for ``xl list`` itself. A check run sends some 40
commands, a provisioning run hundreds. Here each command is one line written to a shell
that is already running:

    <command> </dev/null; printf '\\n<marker> %d\\n' $?; printf '\\n<marker>\\n' >&2

Its stdout is read up to the marker and the exit status after it; its stderr, up to the
marker on the stderr stream. The marker is random per command, so no output can fake it.
The command's stdin is /dev/null: it cannot read the lines meant for the shell.

Commands that would change the shell itself (``cd``, ``exit``, ``export``...) are not sent
here, nor commands fed an input: the runner sends those on their own channel.
"""

from __future__ import annotations

import re
import secrets
import select
import time

import paramiko

# shell builtins that change the shell they run in (or end it)
STATEFUL = frozenset({".", "alias", "cd", "eval", "exec", "exit", "export", "read",
                      "readonly", "return", "set", "shift", "source", "trap", "ulimit",
                      "umask", "unalias", "unset", "wait"})


class ShellLost(Exception):
    """The shell's channel closed or timed out: the session is unusable."""


def suitable(argv0: str) -> bool:
    """Whether a command starting with ``argv0`` may run in the shared shell."""
    return argv0 not in STATEFUL and "=" not in argv0


class ShellSession:
    def __init__(self, transport: paramiko.Transport, timeout: float = 30.0) -> None:
        self.channel = transport.open_session(timeout=timeout)
        self.channel.exec_command("exec sh")
        self.channel.setblocking(False)

    @property
    def alive(self) -> bool:
        return not self.channel.closed and not self.channel.exit_status_ready()

    def run(self, command: str, timeout: float) -> tuple[int, bytes, bytes]:
        """Run ``command`` (a quoted command line); returns (status, stdout, stderr).
        Raises :class:`ShellLost` when the shell ends or ``timeout`` passes first (the
        session is then closed)."""
        marker = secrets.token_hex(12)
        line = (f"{command} </dev/null; printf '\\n{marker} %d\\n' $?; "
                f"printf '\\n{marker}\\n' >&2\n")
        end_out = re.compile(rb"\n" + marker.encode() + rb" (\d+)\n")
        end_err = b"\n" + marker.encode() + b"\n"
        out, err = bytearray(), bytearray()
        status: int | None = None
        err_done = False
        deadline = time.monotonic() + timeout
        try:
            self.channel.sendall(line.encode())
            while status is None or not err_done:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise ShellLost(f"no end of output within {timeout:g} s")
                select.select([self.channel], [], [], min(left, 1.0))
                while self.channel.recv_ready():
                    out += self.channel.recv(65536)
                while self.channel.recv_stderr_ready():
                    err += self.channel.recv_stderr(65536)
                if status is None and (m := end_out.search(out)):
                    status = int(m.group(1))
                    del out[m.start():]
                if not err_done and (i := err.find(end_err)) >= 0:
                    err_done = True
                    del err[i:]
                drained = not (self.channel.recv_ready() or self.channel.recv_stderr_ready())
                if (status is None or not err_done) and drained and not self.alive:
                    raise ShellLost("the shell ended or its channel closed")
        except ShellLost:
            self.close()
            raise
        except (OSError, paramiko.SSHException, EOFError) as e:
            self.close()
            raise ShellLost(str(e)) from e
        return status, bytes(out), bytes(err)

    def close(self) -> None:
        try:
            self.channel.close()
        except Exception:  # noqa: BLE001 - closing a broken channel may fail: ignored
            pass
