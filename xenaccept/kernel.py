"""Kernel facts: release, build configuration, modules, command line."""

from __future__ import annotations

import re
import shlex

from . import validate
from .runner import Runner

_HIDE = re.compile(r"\(([^()]*)\)")
_OPTION = re.compile(r"^[A-Z0-9_]+$")


def parse_cmdline(text: str) -> dict[str, str]:
    """``/proc/cmdline`` -> {key: value} (flags map to '')."""
    params: dict[str, str] = {}
    for token in shlex.split(text.strip()):
        key, _, value = token.partition("=")
        params[key] = value
    return params


def hidden_bdfs(cmdline: str) -> list[str]:
    """BDFs listed by ``xen-pciback.hide=(dddd:bb:dd.f)(...)`` on a kernel command line."""
    value = parse_cmdline(cmdline).get("xen-pciback.hide", "")
    return [validate.bdf(x, "xen-pciback.hide") for x in _HIDE.findall(value)]


def parse_config(text: str, *names: str) -> dict[str, str | None]:
    """Values of ``CONFIG_<name>`` ('y', 'm', or None when unset) from a kernel config."""
    found: dict[str, str | None] = {n: None for n in names}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        name = key.removeprefix("CONFIG_")
        if sep and name in found:
            found[name] = value.strip().strip('"')
    return found


class Kernel:
    def __init__(self, runner: Runner) -> None:
        self.runner = runner

    @property
    def release(self) -> str:
        return self.runner.out("uname", "-r").strip()

    @property
    def cmdline(self) -> str:
        return self.runner.out("cat", "/proc/cmdline").strip()

    def config(self, *names: str) -> dict[str, str | None]:
        """Build options of the running kernel, from /boot/config-<release> or
        /proc/config.gz (only the lines asked for are read back)."""
        for name in names:
            if not _OPTION.match(name):
                raise ValueError(f"not a kernel option name: {name!r}")
        pattern = "^CONFIG_(" + "|".join(names) + ")="
        r = self.runner.run("grep", "-E", pattern, f"/boot/config-{self.release}")
        if r.exit_status > 1:  # no such file (1 is "no line matched")
            r = self.runner.run("sh", "-c", 'zcat /proc/config.gz | grep -E "$1"', "sh", pattern)
        return parse_config(r.stdout, *names)

    def module_available(self, module: str) -> bool:
        """True when ``modinfo`` finds the module (as a file, or built in)."""
        return self.runner.run("modinfo", "-F", "filename", module).ok

    def module_loaded(self, module: str) -> bool:
        return self.runner.run("test", "-d", f"/sys/module/{module.replace('-', '_')}").ok
