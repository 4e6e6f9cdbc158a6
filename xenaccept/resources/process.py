"""Processes as ``ps`` lists them: the one parser of its output."""

from __future__ import annotations

import shlex
from dataclasses import dataclass


def _argv(args: str) -> list[str]:
    try:
        return shlex.split(args)
    except ValueError:
        return args.split()


@dataclass(frozen=True)
class Process:
    pid: int
    stat: str           # ps's STAT: T stopped, Z zombie, D blocked, S sleeping, ...
    argv: list[str]


PS_ARGV = ("ps", "-eo", "pid=,stat=,args=")


def parse_ps(text: str, *, with_stat: bool = True) -> list[Process]:
    """``ps -eo pid=,stat=,args=`` (``with_stat=False``: ``ps -eo pid=,args=``, its stat
    then empty) -> processes."""
    procs = []
    for line in text.splitlines():
        if with_stat:
            pid, stat, args = (line.split(None, 2) + ["", ""])[:3]
        else:
            pid, _, args = line.strip().partition(" ")
            stat = ""
        if pid.isdigit():
            procs.append(Process(int(pid), stat, _argv(args)))
    return procs
