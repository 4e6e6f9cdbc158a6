"""Running commands on a host: argv in, :class:`Result` out, every argument quoted.

A command is always a list of arguments; the runner quotes each one with :func:`shlex.quote`
(never formats values into a command string), bounds it with a timeout, records it in the
:class:`Transcript`, and refuses any command marked ``mutates=True`` when the runner is
read-only (check mode).
"""

from __future__ import annotations

import shlex
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from .errors import HarnessError, ReadOnlyViolation

DEFAULT_TIMEOUT = 60.0


@dataclass(frozen=True)
class Result:
    host: str
    command: str
    exit_status: int
    stdout: str
    stderr: str
    duration: float
    mutates: bool = False

    @property
    def ok(self) -> bool:
        return self.exit_status == 0

    def describe(self) -> str:
        err = self.stderr.strip().splitlines()[-1:] or [""]
        return f"`{self.command}` on {self.host} exited {self.exit_status}" + (
            f": {err[0]}" if err[0] else ""
        )


Listener = Callable[[Result], None]


@dataclass
class Transcript:
    """Every command sent, in order, for the report and for proving check mode changed nothing."""

    entries: list[Result] = field(default_factory=list)
    listeners: list[Listener] = field(default_factory=list)

    def add(self, result: Result) -> None:
        self.entries.append(result)
        for listener in list(self.listeners):
            listener(result)

    def mutating(self) -> list[Result]:
        return [r for r in self.entries if r.mutates]


class Runner:
    """Base of the transports. Subclasses implement :meth:`_execute`."""

    def __init__(self, name: str, *, read_only: bool, transcript: Transcript | None = None,
                 default_timeout: float = DEFAULT_TIMEOUT) -> None:
        self.name = name
        self.read_only = read_only
        self.transcript = transcript if transcript is not None else Transcript()
        self.default_timeout = default_timeout

    def run(self, *argv: str, timeout: float | None = None, mutates: bool = False,
            check: bool = False, stdin: str | None = None) -> Result:
        """Run ``argv`` (each element quoted). ``check=True`` raises HarnessError on non-zero."""
        if not argv:
            raise ValueError("empty command")
        command = shlex.join(argv)
        if mutates and self.read_only:
            raise ReadOnlyViolation(
                f"check mode: refusing to change {self.name} with `{command}` "
                "(run with --provision to let the suite change the host)")
        limit = self.default_timeout if timeout is None else timeout
        start = time.monotonic()
        rc, out, err = self._execute(command, limit, stdin)
        result = Result(self.name, command, rc, out, err,
                        time.monotonic() - start, mutates)
        self.transcript.add(result)
        if check and not result.ok:
            raise HarnessError(result.describe())
        return result

    def out(self, *argv: str, timeout: float | None = None) -> str:
        """stdout of a read-only command that must succeed."""
        return self.run(*argv, timeout=timeout, check=True).stdout

    def write_file(self, path: str, content: str, *, mode: str = "0644",
                   timeout: float | None = None) -> Result:
        """Write ``content`` to ``path`` on the host (a mutating command)."""
        script = 'umask 077 && cat > "$1.xenaccept-tmp" && chmod "$2" "$1.xenaccept-tmp" ' \
                 '&& mv -f "$1.xenaccept-tmp" "$1"'
        return self.run("sh", "-c", script, "sh", path, mode, stdin=content,
                        timeout=timeout, mutates=True, check=True)

    def close(self) -> None:
        """Release the transport (no-op by default)."""

    def _execute(self, command: str, timeout: float, stdin: str | None) -> tuple[int, str, str]:
        raise NotImplementedError


class LocalRunner(Runner):
    """Runs commands on this machine through ``sh -c`` (the lab tooling and self-tests)."""

    def _execute(self, command: str, timeout: float, stdin: str | None) -> tuple[int, str, str]:
        import subprocess

        from .errors import CommandTimeout
        try:
            p = subprocess.run(["sh", "-c", command], input=stdin or "", capture_output=True,
                               text=True, timeout=timeout)
        except subprocess.TimeoutExpired as e:
            raise CommandTimeout(f"`{command}` on {self.name} did not finish in {timeout:g} s") from e
        return p.returncode, p.stdout, p.stderr


def command_of(argv: Sequence[str]) -> str:
    return shlex.join(argv)
