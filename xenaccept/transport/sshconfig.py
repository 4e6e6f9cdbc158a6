"""Where an :class:`~xenaccept.model.ssh.SSHSpec` leads: the hops to connect through, resolved
from the spec, the user's ssh_config and OpenSSH's defaults, without any network.

Explicit fields of the spec win over the ssh_config (``Host`` blocks, first value wins, as
OpenSSH reads it, through :class:`paramiko.SSHConfig`), which wins over the defaults: port
22, user root, ``~/.ssh/known_hosts`` (and ``/etc/ssh/ssh_known_hosts`` when present), the
default identities and ssh-agent. ``ProxyJump`` becomes jump hops, each resolved through
the same config; the suite's own ``jump`` spec comes first. ``ProxyCommand`` is refused (it
runs a local command). Every host, user and port used is validated.
"""

from __future__ import annotations

import fnmatch
import glob
import ipaddress
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paramiko

from xenaccept.errors import InventoryError
from xenaccept.model import validate
from xenaccept.model.ssh import SSHSpec

USER_CONFIG = "~/.ssh/config"
DEFAULT_KEYS = ("~/.ssh/id_ed25519", "~/.ssh/id_ecdsa", "~/.ssh/id_rsa")
USER_KNOWN_HOSTS = "~/.ssh/known_hosts"
GLOBAL_KNOWN_HOSTS = "/etc/ssh/ssh_known_hosts"
MAX_HOPS = 8
_JUMP = re.compile(r"^(?:ssh://)?(?:(?P<user>[^@]+)@)?"
                   r"(?:\[(?P<v6>[^\]]+)\]|(?P<host>[^:@\[\]]+))(?::(?P<port>\d+))?$")


@dataclass(frozen=True)
class Hop:
    """One SSH connection of a chain: jump hosts first, the target last."""

    name: str                      # as written: an ssh_config alias or an address
    hostname: str
    port: int
    user: str
    key_files: tuple[str, ...]     # tried in order; empty: the agent only
    allow_agent: bool
    known_hosts: tuple[str, ...]   # host keys are verified against these (missing ones skipped)
    connect_timeout: float = 15.0

    @property
    def address(self) -> str:
        return f"{self.user}@{self.hostname}:{self.port}"


@dataclass(frozen=True)
class _Config:
    ssh: paramiko.SSHConfig | None
    path: str  # "" when no ssh_config is used

    def lookup(self, alias: str) -> dict[str, Any]:
        return dict(self.ssh.lookup(alias)) if self.ssh is not None else {}

    def where(self, alias: str) -> str:
        return f"ssh_config {self.path}: Host {alias}" if self.path else f"ssh {alias}"

    def knows(self, name: str) -> bool:
        """True when a Host pattern other than ``*`` matches ``name``."""
        patterns = self.ssh.get_hostnames() if self.ssh is not None else set()
        return any(fnmatch.fnmatchcase(name, p) for p in patterns
                   if p != "*" and not p.startswith("!"))


def resolve(spec: SSHSpec) -> tuple[Hop, ...]:
    """The hops to connect through to reach ``spec``, in connection order (raises
    :class:`InventoryError` naming the host and the setting at fault)."""
    jump = spec.jump
    if jump is not None and not isinstance(jump, SSHSpec):
        raise InventoryError(f"ssh {spec.host}: jump {jump!r} is not an SSHSpec")
    first = resolve(jump) if jump is not None else ()
    config = load(spec.ssh_config)
    hops = first + _host(config, spec.host, user=spec.user, port=spec.port,
                         key_file=spec.key_file, known_hosts=spec.known_hosts,
                         timeout=spec.connect_timeout, seen=())
    if len(hops) > MAX_HOPS:
        raise InventoryError(f"ssh {spec.host}: more than {MAX_HOPS} hops "
                             f"({' -> '.join(h.name for h in hops)})")
    return hops


def load(path: str | None) -> _Config:
    """The ssh_config to use: ``None`` for ~/.ssh/config when it exists, ``""`` for none."""
    if path == "":
        return _Config(None, "")
    full = os.path.expanduser(path if path is not None else USER_CONFIG)
    if not os.path.isfile(full):
        if path is None:
            return _Config(None, "")
        raise InventoryError(f"ssh_config {path}: no such file")
    text = _read(full, os.path.dirname(full), depth=0)
    try:
        return _Config(paramiko.SSHConfig.from_text(text), full)
    except paramiko.ssh_exception.ConfigParseError as e:
        raise InventoryError(f"ssh_config {full}: {e}") from e


def _read(path: str, base: str, depth: int) -> str:
    """The config's text with top-level ``Include`` files inlined (paramiko ignores them)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as e:
        raise InventoryError(f"ssh_config {path}: {e.strerror}") from e
    out: list[str] = []
    in_block = False
    for line in text.splitlines():
        words = line.replace("=", " ", 1).split(None, 1)
        key = words[0].lower() if words and not words[0].startswith("#") else ""
        in_block = in_block or key in ("host", "match")
        if key != "include":
            out.append(line)
            continue
        if in_block:
            raise InventoryError(f"ssh_config {path}: Include inside a Host or Match block is "
                                 "not supported (put it before the first Host)")
        if depth >= 16:
            raise InventoryError(f"ssh_config {path}: Include nested too deep")
        for pattern in words[1].split() if len(words) > 1 else []:
            pattern = os.path.join(base, os.path.expanduser(pattern))
            for included in sorted(glob.glob(pattern)):
                # back to the global context after the file's own Host blocks
                out += [_read(included, base, depth + 1), "Host *"]
    return "\n".join(out) + "\n"


def _host(config: _Config, alias: str, *, user: str | None, port: int | None,
          key_file: str | None, known_hosts: str | None, timeout: float,
          seen: tuple[str, ...], follow_jump: bool = True) -> tuple[Hop, ...]:
    """``alias`` resolved through ``config``, preceded by its ProxyJump hops."""
    if alias in seen:
        raise InventoryError(f"ProxyJump loop: {' -> '.join(seen + (alias,))}")
    if len(seen) >= MAX_HOPS:
        raise InventoryError(f"ProxyJump chain longer than {MAX_HOPS}: "
                             f"{' -> '.join(seen + (alias,))}")
    where = config.where(alias)
    opts = config.lookup(alias)
    if "hostkeyalias" in opts:
        raise InventoryError(f"{where}: HostKeyAlias is not supported (host keys are looked "
                             "up by HostName and Port)")
    hostname = validate.host(opts.get("hostname", alias), f"{where}: HostName")
    user = validate.user(user, f"ssh {alias}: user") if user else \
        validate.user(opts.get("user") or "root", f"{where}: User")
    port = validate.port(port, f"ssh {alias}: port") if port is not None else \
        validate.port(_int(opts.get("port", 22)), f"{where}: Port")
    if key_file:
        keys, agent = (os.path.expanduser(key_file),), False
    else:
        listed = opts.get("identityfile") or list(DEFAULT_KEYS)
        keys = tuple(p for p in map(os.path.expanduser, listed) if os.path.isfile(p))
        agent = (str(opts.get("identitiesonly", "no")).lower() != "yes"
                 and str(opts.get("identityagent", "")).lower() != "none")
    if known_hosts:
        files: tuple[str, ...] = (os.path.expanduser(known_hosts),)
    else:
        users = str(opts.get("userknownhostsfile", USER_KNOWN_HOSTS)).split()
        globals_ = str(opts.get("globalknownhostsfile", GLOBAL_KNOWN_HOSTS)).split()
        files = tuple(os.path.expanduser(f) for f in users if f.lower() != "none") + \
            tuple(f for f in map(os.path.expanduser, globals_) if os.path.isfile(f))
    hop = Hop(alias, hostname, port, user, keys, agent, files, timeout)
    jumps: tuple[Hop, ...] = ()
    proxy = _proxy(opts, where) if follow_jump else None
    if proxy:
        entries = [_jump(config, e.strip(), where) for e in proxy.split(",")]
        for i, (j_user, j_host, j_port) in enumerate(entries):
            # OpenSSH reaches the first jump host with its own ProxyJump, the others
            # through the hop before them
            jumps += _host(config, j_host, user=j_user, port=j_port, key_file=None,
                           known_hosts=None, timeout=timeout, seen=seen + (alias,),
                           follow_jump=i == 0)
    return jumps + (hop,)


def _proxy(opts: dict[str, Any], where: str) -> str | None:
    """The ProxyJump value in effect (the first of ProxyJump and ProxyCommand wins, as in
    OpenSSH); ProxyCommand is refused."""
    key = next((k for k in opts if k in ("proxyjump", "proxycommand")), None)
    if key is None or opts[key] is None or str(opts[key]).strip().lower() == "none":
        return None
    if key == "proxycommand":
        raise InventoryError(f"{where}: ProxyCommand is not supported (it runs a local "
                             "command); use ProxyJump")
    return str(opts[key])


def _jump(config: _Config, entry: str, where: str) -> tuple[str | None, str, int | None]:
    """``[user@]host[:port]`` (or ``ssh://...``, ``[v6]:port``) of a ProxyJump list."""
    m = _JUMP.match(entry)
    if not m:
        raise InventoryError(f"{where}: ProxyJump: {entry!r} is not [user@]host[:port]")
    host = m["v6"] or m["host"]
    if not (config.knows(host) or _address_like(host)):
        raise InventoryError(
            f"{where}: ProxyJump: unknown host {host!r} (no Host block of "
            f"{config.path or 'the ssh_config'} names it, and it is neither an address nor "
            "a name with a domain)")
    user = validate.user(m["user"], f"{where}: ProxyJump user") if m["user"] else None
    port = validate.port(int(m["port"]), f"{where}: ProxyJump port") if m["port"] else None
    return user, validate.host(host, f"{where}: ProxyJump host"), port


def _address_like(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
        return True
    except ValueError:
        return "." in name.strip(".") or name == "localhost"


def _int(value: object) -> object:
    return int(value) if isinstance(value, str) and value.isdigit() else value
