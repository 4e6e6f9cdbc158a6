"""Running commands on a host: argv in, :class:`Result` out, every argument quoted.

A command is always a list of arguments; the runner quotes each one with :func:`shlex.quote`
(never formats values into a command string), bounds it with a timeout, records it in the
:class:`Transcript`, and refuses any command marked ``mutates=True`` when the runner is
read-only (check mode).

A read marked ``once=True`` asks a fact that nothing but a change to the host can change
(a kernel release, Xen's info, the domain list, a device's driver). A read-only runner sends
it once and answers it again from that first answer: nothing changes the host in check
mode. The repeat is still recorded, marked ``reused``, so each step's report lists the
facts it looked at. A runner that may change the host sends every read.
"""

from __future__ import annotations

import contextlib
import shlex
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace

from xenaccept.errors import HarnessError, ReadOnlyViolation

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
    reused: bool = False     # answered from an earlier identical read of this run

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

    def sent(self) -> list[Result]:
        """The commands that really went to a host (not the reused answers)."""
        return [r for r in self.entries if not r.reused]


class Runner:
    """Base of the transports. Subclasses implement :meth:`_execute`."""

    def __init__(self, name: str, *, read_only: bool, transcript: Transcript | None = None,
                 default_timeout: float = DEFAULT_TIMEOUT) -> None:
        self.name = name
        self.read_only = read_only
        self.transcript = transcript if transcript is not None else Transcript()
        self.default_timeout = default_timeout
        self._answers: dict[str, Result] = {}   # once=True reads of a read-only runner
        self.patience = 0   # > 0 while a wait polls through this runner (:meth:`patient`)

    @property
    def reachable(self) -> bool:
        """False while the host is known not to answer (a transport that can tell)."""
        return True

    @contextlib.contextmanager
    def patient(self) -> Iterator[None]:
        """While a wait polls through this runner: its host may be down and come back, so a
        transport retries what it would fail fast, and gives each attempt less time."""
        self.patience += 1
        try:
            yield
        finally:
            self.patience -= 1

    def run(self, *argv: str, timeout: float | None = None, mutates: bool = False,
            check: bool = False, stdin: str | None = None, once: bool = False) -> Result:
        """Run ``argv`` (each element quoted). ``check=True`` raises HarnessError on non-zero.
        ``once=True``: a read-only runner sends this read once a run (see the module)."""
        if not argv:
            raise ValueError("empty command")
        command = shlex.join(argv)
        if mutates and self.read_only:
            raise ReadOnlyViolation(
                f"check mode: refusing to change {self.name} with `{command}` "
                "(run with --provision to let the suite change the host)")
        remember = once and self.read_only and not mutates and stdin is None
        if remember and command in self._answers:
            result = replace(self._answers[command], duration=0.0, reused=True)
        else:
            limit = self.default_timeout if timeout is None else timeout
            start = time.monotonic()
            rc, out, err = self._execute(command, limit, stdin)
            result = Result(self.name, command, rc, out, err,
                            time.monotonic() - start, mutates)
            if remember:
                self._answers[command] = result
        self.transcript.add(result)
        if check and not result.ok:
            raise HarnessError(result.describe())
        return result

    def out(self, *argv: str, timeout: float | None = None, once: bool = False) -> str:
        """stdout of a read-only command that must succeed."""
        return self.run(*argv, timeout=timeout, check=True, once=once).stdout

    def write_file(self, path: str, content: str, *, mode: str = "0644",
                   timeout: float | None = None) -> Result:
        """Write ``content`` to ``path`` on the host (a mutating command)."""
        script = 'umask 077 && cat > "$1.xenaccept-tmp" && chmod "$2" "$1.xenaccept-tmp" ' \
                 '&& mv -f "$1.xenaccept-tmp" "$1"'
        return self.run("sh", "-c", script, "sh", path, mode, stdin=content,
                        timeout=timeout, mutates=True, check=True)

    def close(self) -> None:
        """Release the transport; the answers kept for ``once`` reads are forgotten (the
        host may have changed while the runner was away from it)."""
        self._answers.clear()

    def _execute(self, command: str, timeout: float, stdin: str | None) -> tuple[int, str, str]:
        raise NotImplementedError


class LocalRunner(Runner):
    """Runs commands on this machine through ``sh -c`` (the lab tooling and self-tests)."""

    def _execute(self, command: str, timeout: float, stdin: str | None) -> tuple[int, str, str]:
        import subprocess

        from xenaccept.errors import CommandTimeout
        try:
            p = subprocess.run(["sh", "-c", command], input=stdin or "", capture_output=True,
                               text=True, timeout=timeout)
        except subprocess.TimeoutExpired as e:
            raise CommandTimeout(f"`{command}` on {self.name} did not finish in {timeout:g} s") from e
        return p.returncode, p.stdout, p.stderr


def command_of(argv: Sequence[str]) -> str:
    return shlex.join(argv)
