"""Kernel facts: release, build configuration, modules, command line."""

from __future__ import annotations

import re
import shlex

from xenaccept.model import validate
from xenaccept.transport.runner import Runner

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
    found: dict[str, str | None] = dict.fromkeys(names)
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        name = key.removeprefix("CONFIG_")
        if sep and name in found:
            found[name] = value.strip().strip('"')
    return found


# the build options the suite asks about, read in one go (a read-only run reads them once)
_READ_TOGETHER = re.compile(r"^(XEN_[A-Z0-9_]+|INTEL_IOMMU|AMD_IOMMU)$")
_TOGETHER_PATTERN = "^CONFIG_(XEN_[A-Z0-9_]+|INTEL_IOMMU|AMD_IOMMU)="


MODPROBE_DIRS = ("/etc/modprobe.d", "/run/modprobe.d", "/usr/local/lib/modprobe.d",
                 "/lib/modprobe.d", "/usr/lib/modprobe.d")


def parse_modprobe_rules(text: str, module: str) -> list[str]:
    """The rules that keep ``module`` from loading as modprobe loads it, from ``grep -H``
    over modprobe's configuration files (``FILE:rule`` lines): an ``install`` command that
    does not load it (``/bin/false``, ``/bin/true``), or ``blacklist`` (which stops loads by
    alias, the way udev loads drivers). Module names compare with - and _ alike. Returns
    ``FILE: rule`` for each."""
    name = module.replace("-", "_")
    rules = []
    for line in text.splitlines():
        path, sep, rule = line.partition(":")
        words = rule.split()
        if not sep or len(words) < 2 or words[1].replace("-", "_") != name:
            continue
        if words[0] == "blacklist" or (words[0] == "install" and not any(
                w in rule for w in ("modprobe", "insmod"))):
            rules.append(f"{path}: {' '.join(words)}")
    return rules


def cmdline_blacklist(cmdline: str, module: str) -> bool:
    """Whether ``modprobe.blacklist=`` on a kernel command line names ``module``."""
    listed = parse_cmdline(cmdline).get("modprobe.blacklist", "")
    return module.replace("-", "_") in {m.replace("-", "_") for m in listed.split(",")}


class Kernel:
    def __init__(self, runner: Runner) -> None:
        self.runner = runner

    @property
    def release(self) -> str:
        return self.runner.out("uname", "-r", once=True).strip()

    @property
    def cmdline(self) -> str:
        return self.runner.out("cat", "/proc/cmdline", once=True).strip()

    def config(self, *names: str) -> dict[str, str | None]:
        """Build options of the running kernel, from /boot/config-<release> or
        /proc/config.gz (only the lines asked for are read back; the Xen and IOMMU ones
        together, in one read)."""
        for name in names:
            if not _OPTION.match(name):
                raise ValueError(f"not a kernel option name: {name!r}")
        if all(_READ_TOGETHER.match(n) for n in names):
            pattern = _TOGETHER_PATTERN
        else:
            pattern = "^CONFIG_(" + "|".join(names) + ")="
        r = self.runner.run("grep", "-E", pattern, f"/boot/config-{self.release}", once=True)
        if r.exit_status > 1:  # no such file (1 is "no line matched")
            r = self.runner.run("sh", "-c", 'zcat /proc/config.gz | grep -E "$1"', "sh",
                                pattern, once=True)
        return parse_config(r.stdout, *names)

    def module_available(self, module: str) -> bool:
        """True when ``modinfo`` finds the module (as a file, or built in)."""
        return self.runner.run("modinfo", "-F", "filename", validate.driver(module, "module"),
                               once=True).ok

    def module_loaded(self, module: str) -> bool:
        return self.runner.run("test", "-d", f"/sys/module/{module.replace('-', '_')}").ok

    def module_blocked(self, module: str) -> list[str]:
        """The rules that keep ``module`` from loading, where they are (see
        :func:`parse_modprobe_rules`; and ``modprobe.blacklist=`` on the command line);
        empty when nothing does. Reads modprobe's configuration files, not ``modprobe -c``
        (which lists every alias of every module: 16 s in the lab's Dom0)."""
        name = validate.driver(module, "module")
        r = self.runner.run("grep", "-rsHE", "--include=*.conf",
                            "^[[:space:]]*(blacklist|install)[[:space:]]", *MODPROBE_DIRS,
                            once=True)
        rules = parse_modprobe_rules(r.stdout, name)
        if cmdline_blacklist(self.cmdline, name):
            rules.append(f"/proc/cmdline: modprobe.blacklist={name}")
        return rules
