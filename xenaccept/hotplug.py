"""What a backend domain needs to plug vifs: the hotplug scripts and the ``xl devd`` daemon."""

from __future__ import annotations

import posixpath
import re
import shlex
from dataclasses import dataclass

from .runner import Runner

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


def parse_ps(text: str) -> list[tuple[int, list[str]]]:
    """``ps -eo pid=,args=`` -> [(pid, argv)]."""
    procs = []
    for line in text.splitlines():
        pid, _, args = line.strip().partition(" ")
        if pid.isdigit():
            try:
                argv = shlex.split(args)
            except ValueError:
                argv = args.split()
            procs.append((int(pid), argv))
    return procs


def devd_pids(ps_text: str) -> list[int]:
    """PIDs of ``xl devd`` processes: argv[0] is xl (any path) and argv[1] is devd."""
    return [pid for pid, argv in parse_ps(ps_text)
            if len(argv) >= 2 and posixpath.basename(argv[0]) == "xl" and argv[1] == "devd"]


class Hotplug:
    """The hotplug side of a backend domain."""

    def __init__(self, runner: Runner, scripts_dir: str = SCRIPTS_DIR) -> None:
        self.runner = runner
        self.dir = scripts_dir

    def closure(self, script: str) -> list[str]:
        """``script`` and every helper it sources, transitively (names, in order found)."""
        seen: list[str] = []
        todo = [script]
        while todo:
            name = todo.pop(0)
            if name in seen:
                continue
            seen.append(name)
            r = self.runner.run("cat", f"{self.dir}/{name}")
            if r.ok:
                todo.extend(parse_sourced(r.stdout))
        return seen

    def states(self, names: list[str]) -> list[ScriptState]:
        states = []
        for name in names:
            path = f"{self.dir}/{name}"
            present = self.runner.run("test", "-f", path).ok
            executable = present and self.runner.run("test", "-x", path).ok
            states.append(ScriptState(path, present, executable))
        return states

    def devd_pids(self) -> list[int]:
        return devd_pids(self.runner.out("ps", "-eo", "pid=,args="))

    def xl_path(self) -> str | None:
        """Where ``xl`` is (Debian keeps it in /usr/lib/xen-<ver>/bin behind a wrapper)."""
        r = self.runner.run("sh", "-c", "ls -1 /usr/lib/xen-*/bin/xl 2>/dev/null | tail -n 1")
        path = r.stdout.strip()
        if path:
            return path
        r = self.runner.run("sh", "-c", "command -v xl")
        return r.stdout.strip() or None
