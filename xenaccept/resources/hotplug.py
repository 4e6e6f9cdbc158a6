"""What a backend domain needs to plug vifs: the hotplug scripts and the ``xl devd`` daemon."""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass

from xenaccept.resources.process import PS_ARGV, Process, parse_ps
from xenaccept.transport.runner import Runner

SCRIPTS_DIR = "/etc/xen/scripts"
_SOURCED = re.compile(r'^\s*(?:\.|source)\s+"?\$\{?dir\}?/([A-Za-z0-9_.-]+)"?', re.M)


def parse_sourced(script_text: str) -> list[str]:
    """Helper scripts a hotplug script sources as ``. "$dir/name"``."""
    return _SOURCED.findall(script_text)


@dataclass(frozen=True)
class ScriptState:
    path: str
    present: bool
    executable: bool


def is_devd(argv: list[str]) -> bool:
    """An ``xl devd`` process: argv[0] is xl (any path) and argv[1] is devd."""
    return len(argv) >= 2 and posixpath.basename(argv[0]) == "xl" and argv[1] == "devd"


def devd_pids(procs: list[Process]) -> list[int]:
    """PIDs of the ``xl devd`` processes among ``procs``."""
    return [p.pid for p in procs if is_devd(p.argv)]


# One read of the scripts directory: every regular file with whether it is executable
# ("//x NAME" or "//- NAME"), then every line of them that sources a file ("NAME:line").
_LIST_SCRIPT = ('cd "$1" 2>/dev/null || exit 0; for f in *; do [ -f "$f" ] || continue; '
                'if [ -x "$f" ]; then echo "//x $f"; else echo "//- $f"; fi; done; '
                "grep -HE '^[[:space:]]*(\\.|source)[[:space:]]' -- * 2>/dev/null; true")
# The syntax of each named script, as the shell that runs it parses it ("//NAME" then what
# it said, for each script it refuses)
_SYNTAX_SCRIPT = ('cd "$1" || exit 1; shift; for f; do out=$(bash -n "$f" 2>&1) || '
                  'printf "//%s\\n%s\\n" "$f" "$out"; done; true')


def parse_listing(text: str) -> tuple[dict[str, bool], dict[str, list[str]]]:
    """Output of :data:`_LIST_SCRIPT` -> ({name: executable}, {name: [names it sources]})."""
    modes: dict[str, bool] = {}
    sources: dict[str, list[str]] = {}
    for line in text.splitlines():
        if line.startswith("//") and line[2:4] in ("x ", "- "):
            modes[line[4:]] = line[2] == "x"
            continue
        name, sep, rest = line.partition(":")
        if sep and "/" not in name:
            sources.setdefault(name, []).extend(parse_sourced(rest))
    return modes, sources


def parse_syntax(text: str) -> dict[str, str]:
    """Output of :data:`_SYNTAX_SCRIPT` -> {name: the shell's complaint (first line)}."""
    errors: dict[str, str] = {}
    current: str | None = None
    for line in text.splitlines():
        if line.startswith("//"):
            current = line[2:]
            errors[current] = ""
        elif current is not None and not errors[current] and line.strip():
            errors[current] = line.strip()
    return errors


class Hotplug:
    """The hotplug side of a backend domain."""

    def __init__(self, runner: Runner, scripts_dir: str = SCRIPTS_DIR) -> None:
        self.runner = runner
        self.dir = scripts_dir

    def _listing(self) -> tuple[dict[str, bool], dict[str, list[str]]]:
        r = self.runner.run("sh", "-c", _LIST_SCRIPT, "sh", self.dir, once=True)
        return parse_listing(r.stdout)

    def closure(self, script: str) -> list[str]:
        """``script`` and every helper it sources, transitively (names, in order found)."""
        sources = self._listing()[1]
        seen: list[str] = []
        todo = [script]
        while todo:
            name = todo.pop(0)
            if name in seen:
                continue
            seen.append(name)
            todo.extend(sources.get(name, []))
        return seen

    def states(self, names: list[str]) -> list[ScriptState]:
        modes = self._listing()[0]
        return [ScriptState(f"{self.dir}/{n}", n in modes, modes.get(n, False))
                for n in names]

    def syntax_errors(self, names: list[str]) -> dict[str, str]:
        """{name: what bash says} for each of ``names`` that bash cannot parse (``bash -n``:
        read only, nothing runs)."""
        if not names:
            return {}
        for n in names:
            if "/" in n or n.startswith("-"):
                raise ValueError(f"not a script name: {n!r}")
        r = self.runner.run("sh", "-c", _SYNTAX_SCRIPT, "sh", self.dir, *names, once=True)
        return parse_syntax(r.stdout)

    def _ps(self) -> list[Process]:
        """One ``ps -eo pid=,stat=,args=``."""
        return parse_ps(self.runner.out(*PS_ARGV, once=True))

    def devd_pids(self) -> list[int]:
        return devd_pids(self._ps())

    def process_states(self) -> dict[int, str]:
        """{pid: state} (ps's STAT: T stopped, Z zombie, D blocked, S sleeping, ...)."""
        return {p.pid: p.stat for p in self._ps()}

    def xl_path(self) -> str | None:
        """Where ``xl`` is (Debian keeps it in /usr/lib/xen-<ver>/bin behind a wrapper)."""
        r = self.runner.run("sh", "-c", "ls -1 /usr/lib/xen-*/bin/xl 2>/dev/null | tail -n 1")
        path = r.stdout.strip()
        if path:
            return path
        r = self.runner.run("sh", "-c", "command -v xl")
        return r.stdout.strip() or None
