"""The inventory: which hosts to check and how the setup is meant to look.

A target needs two things: Dom0 (an ssh_config ``Host`` alias is enough) and the device's
BDF. Everything else has a default or is read from the host when the run starts (the
device's native driver, Dom0's kernel and initrd: see :mod:`xenaccept.resources.hostdefaults`).
Every field is validated before any SSH: a malformed value raises :class:`InventoryError`
naming the field (``targets[0].device.bdf: '00:05.0; reboot' is not a PCI address``), and
an unknown field is refused with the nearest known name (``targets[0].brigde: unknown
field; did you mean 'bridge'?``). Schema: ``inventory.example.yaml``.
"""

from __future__ import annotations

import dataclasses
import difflib
import ipaddress
import os
import re
from pathlib import Path
from typing import Any

import yaml

from xenaccept.errors import InventoryError
from xenaccept.model import lan as lan_model
from xenaccept.model import validate as v
from xenaccept.model.ssh import SSHSpec
from xenaccept.model.target import (DEFAULT_DRVDOM_EXTRA, PUBLISHED, Device, DriverDomain,
                                    Guests, Target)

# -- the schema: every known field, for the unknown-field check ------------------------
SSH_FIELDS = {"host", "port", "user", "key_file", "known_hosts", "ssh_config"}
SCHEMA: dict[str, set[str]] = {
    "inventory": {"targets"},
    "target": {"name", "dom0", "device", "driver_domain", "bridge", "guests", "config_dir",
               "console_log", "lab", "lan"},
    "device": {"bdf", "native_driver"},
    "driver_domain": {"name", "ssh", "memory", "vcpus", "disk", "kernel", "ramdisk", "extra",
                      "nic", "boot_timeout", "address", "gateway", "authorized_keys"},
    "driver_domain.ssh": SSH_FIELDS | {"via"},
    "dom0": SSH_FIELDS,
    "guests": {"count", "names", "name_prefix", "memory", "kernel", "ramdisk", "extra",
               "mac_prefix"},
}
_PUBKEY = re.compile(r"^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)|"
                     r"sk-ssh-ed25519@openssh\.com|sk-ecdsa-sha2-nistp256@openssh\.com) "
                     r"[A-Za-z0-9+/]+={0,3}( [A-Za-z0-9_.@:+-]{0,100})?$")


def lab_inventory(root: Path | str = ".") -> Path:
    """The embedded lab's inventory below the repository ``root``: that of the instance
    ``$XENLAB_NAME`` names (lab/xenlab's instances; default ``default``)."""
    name = os.environ.get("XENLAB_NAME") or "default"
    if not re.fullmatch(r"[A-Za-z0-9_-]+", name):
        raise InventoryError(f"XENLAB_NAME must be [A-Za-z0-9_-]+, got {name!r}")
    return Path(root) / "lab" / "run" / name / "inventory.yaml"


def _mapping(d: Any, field: str, kind: str) -> dict[str, Any]:
    if not isinstance(d, dict):
        raise InventoryError(f"{field}: expected a mapping, got {type(d).__name__}")
    known = SCHEMA[kind]
    for key in d:
        if key not in known:
            near = difflib.get_close_matches(str(key), sorted(known), n=1, cutoff=0.6)
            hint = f"; did you mean {near[0]!r}?" if near else \
                f"; known fields: {', '.join(sorted(known))}"
            prefix = "" if field == "inventory" else f"{field}."
            raise InventoryError(f"{prefix}{key}: unknown field{hint}")
    return d


def _get(d: dict[str, Any], key: str, field: str, default: Any = ...) -> Any:
    if key not in d or d[key] is None and default is not ...:
        if default is ...:
            raise InventoryError(f"{field}.{key}: missing")
        return default
    return d[key]


def _file(raw: Any, field: str, base: Path) -> str:
    if not isinstance(raw, str):
        raise InventoryError(f"{field}: {raw!r} is not a path")
    p = Path(os.path.expanduser(raw))
    p = p if p.is_absolute() else (base / p)
    if not p.is_file():
        raise InventoryError(f"{field}: {str(p)!r} does not exist")
    return str(p.resolve())


def _host_port(raw: str, field: str) -> tuple[str, int | None]:
    """``host``, ``host:port`` or ``[v6]:port``."""
    m = re.match(r"^\[([^]]+)\]:(\d+)$", raw) or re.match(r"^([^:]+):(\d+)$", raw)
    if m:
        return v.host(m.group(1), field), v.port(int(m.group(2)), field)
    return v.host(raw, field), None


def _ssh(d: Any, field: str, base: Path, kind: str = "dom0") -> SSHSpec:
    """A string (an ssh_config alias, a host, ``host:port``) or a mapping."""
    if isinstance(d, str):
        host, port = _host_port(d, field)
        return SSHSpec(host=host, port=port)
    d = _mapping(d, field, kind)
    port = _get(d, "port", field, None)
    user = _get(d, "user", field, None)
    ssh_config = _get(d, "ssh_config", field, None)
    return SSHSpec(
        host=v.host(_get(d, "host", field), f"{field}.host"),
        port=None if port is None else v.port(port, f"{field}.port"),
        user=None if user is None else v.user(user, f"{field}.user"),
        key_file=None if "key_file" not in d else _file(d["key_file"], f"{field}.key_file",
                                                        base),
        known_hosts=None if "known_hosts" not in d else _file(
            d["known_hosts"], f"{field}.known_hosts", base),
        ssh_config=None if ssh_config is None else (
            "" if ssh_config == "" else _file(ssh_config, f"{field}.ssh_config", base)),
    )


def _device(d: Any, field: str) -> Device:
    if isinstance(d, str):
        return Device(v.bdf(d, field), None)
    d = _mapping(d, field, "device")
    drv = _get(d, "native_driver", field, None)
    return Device(v.bdf(_get(d, "bdf", field), f"{field}.bdf"),
                  None if drv is None else v.driver(drv, f"{field}.native_driver"))


def _ipv4_interface(raw: Any, field: str) -> str:
    try:
        iface = ipaddress.IPv4Interface(str(raw))
    except ValueError as e:
        raise InventoryError(f"{field}: {raw!r} is not an IPv4 address with its prefix "
                             "length, like 192.0.2.10/24") from e
    if "/" not in str(raw):
        raise InventoryError(f"{field}: {raw!r} lacks its prefix length (/24, say)")
    return str(iface)


def _driver_domain(d: Any, field: str, base: Path, dom0: SSHSpec) -> DriverDomain:
    d = _mapping(d if d is not None else {}, field, "driver_domain")
    f = field
    opt = lambda key, check: None if _get(d, key, f, None) is None \
        else check(d[key], f"{f}.{key}")  # noqa: E731
    disk = opt("disk", v.xl_disk)
    address = opt("address", _ipv4_interface)
    gateway = opt("gateway", lambda x, fl: str(ipaddress.IPv4Address(x)) if _is_ipv4(x)
                  else _bad(fl, x, "an IPv4 address"))
    keys = _get(d, "authorized_keys", f, [])
    if not isinstance(keys, list):
        raise InventoryError(f"{f}.authorized_keys: expected a list of public keys")
    for i, k in enumerate(keys):
        if not isinstance(k, str) or not _PUBKEY.match(k.strip()):
            raise InventoryError(f"{f}.authorized_keys[{i}]: not an OpenSSH public key line "
                                 "(type, base64, optional comment)")
    if keys and disk is not None:
        raise InventoryError(f"{f}.authorized_keys: only for the driver domain the suite "
                             "builds (this one has its own disk)")
    ssh = _get(d, "ssh", f, None)
    via_dom0 = isinstance(ssh, dict) and "via" in ssh
    if via_dom0:
        if ssh["via"] != "dom0":
            raise InventoryError(f"{f}.ssh.via: {ssh['via']!r}: only 'dom0' is known")
        ssh = {k: x for k, x in ssh.items() if k != "via"}
    published = False
    if not (isinstance(ssh, str) or isinstance(ssh, dict) and "host" in ssh):
        if address is not None:
            ssh = {**(ssh or {}), "host": address.split("/")[0]}
            via_dom0 = True
        elif disk is None:
            # the suite builds it: it says in xenstore at which address it answers, and
            # is reached there (directly, or through Dom0 with ssh: {via: dom0})
            ssh = {**(ssh or {}), "host": PUBLISHED}
            published = True
        else:
            raise InventoryError(
                f"{f}.ssh: missing: say where the driver domain answers over SSH "
                f"(ssh: {{host: ADDRESS, port: PORT}}), or give it a static address "
                f"({f}.address) to reach it through Dom0 (only a driver domain the suite "
                "builds says its address itself)")
    elif isinstance(ssh, dict) and ssh.get("host") == PUBLISHED:
        raise InventoryError(f"{f}.ssh.host: {PUBLISHED!r} is the suite's own placeholder")
    spec = _ssh(ssh, f"{f}.ssh", base, "driver_domain.ssh")
    if disk is None and d.get("ramdisk") is not None:
        raise InventoryError(
            f"{f}.ramdisk: only with {f}.disk (the disk the suite builds boots its own "
            "initramfs, which brings the kernel's modules for it)")
    if via_dom0:
        spec = dataclasses.replace(spec, jump=dom0, ssh_config="")
    return DriverDomain(
        name=v.domain_name(_get(d, "name", f, "drvdom"), f"{f}.name"),
        ssh=spec,
        memory=v.positive_int(_get(d, "memory", f, 1024), f"{f}.memory"),
        vcpus=v.positive_int(_get(d, "vcpus", f, 1), f"{f}.vcpus", maximum=128),
        disk=disk,
        kernel=opt("kernel", v.abs_path),
        ramdisk=opt("ramdisk", v.abs_path),
        extra=v.kernel_args(_get(d, "extra", f, DEFAULT_DRVDOM_EXTRA), f"{f}.extra"),
        nic=v.ifname(_get(d, "nic", f, "eth0"), f"{f}.nic"),
        boot_timeout=v.positive_int(_get(d, "boot_timeout", f, 420), f"{f}.boot_timeout",
                                    maximum=3600),
        address=address,
        gateway=gateway,
        authorized_keys=tuple(k.strip() for k in keys),
        published=published,
    )


def _is_ipv4(x: Any) -> bool:
    try:
        ipaddress.IPv4Address(str(x))
    except ValueError:
        return False
    return True


def _bad(field: str, value: Any, what: str) -> Any:
    raise InventoryError(f"{field}: {value!r} is not {what}")


def _guests(d: Any, field: str, dd_name: str) -> Guests:
    g = _mapping(d if d is not None else {}, field, "guests")
    f = field
    prefix = v.domain_name(_get(g, "name_prefix", f, "xa-guest"), f"{f}.name_prefix")
    if "names" in g:
        raw_names = g["names"]
        if not isinstance(raw_names, list) or not raw_names:
            raise InventoryError(f"{f}.names: expected a non-empty list")
        names = tuple(v.domain_name(n, f"{f}.names[{i}]") for i, n in enumerate(raw_names))
    else:
        count = v.positive_int(_get(g, "count", f, 2), f"{f}.count", maximum=64)
        names = tuple(f"{prefix}{i + 1}" for i in range(count))
    if dd_name in names:
        raise InventoryError(f"{f}.names: {dd_name!r} is the driver domain's name")
    if len(set(names)) != len(names):
        raise InventoryError(f"{f}.names: duplicate names in {list(names)}")
    ramdisk = _get(g, "ramdisk", f, None)
    extra = _get(g, "extra", f, None)
    if ramdisk is None and extra is not None:
        raise InventoryError(f"{f}.extra: only with guests.ramdisk (the suite's own guest "
                             "payload sets its own kernel arguments)")
    kernel = _get(g, "kernel", f, None)
    return Guests(
        names=names,
        memory=v.positive_int(_get(g, "memory", f, 512), f"{f}.memory"),
        kernel=None if kernel is None else v.abs_path(kernel, f"{f}.kernel"),
        ramdisk=None if ramdisk is None else v.abs_path(ramdisk, f"{f}.ramdisk"),
        extra=None if ramdisk is None else v.kernel_args(
            extra if extra is not None else "console=hvc0", f"{f}.extra"),
        mac_prefix=v.mac_prefix(_get(g, "mac_prefix", f, "00:16:3e:5a:00"),
                                f"{f}.mac_prefix"),
    )


def target_name(host: str) -> str:
    """A target's name from its Dom0's host, when the inventory gives none (and what
    ``init`` writes): ``root@xen-1.lab`` -> ``root-xen-1.lab``; one that would name Dom0
    itself is prefixed: ``dom0`` -> ``xen-dom0``."""
    name = re.sub(r"[^A-Za-z0-9_.-]", "-", host).strip("_.-")[:64] or "xen"
    try:
        return v.domain_name(name, "name")
    except InventoryError:
        return f"xen-{name}"[:64]


def _target(raw: Any, field: str, base: Path) -> Target:
    d = _mapping(raw, field, "target")
    dom0 = _ssh(_get(d, "dom0", field), f"{field}.dom0", base)
    dd = _driver_domain(_get(d, "driver_domain", field, None), f"{field}.driver_domain",
                        base, dom0)
    lab = _get(d, "lab", field, {})
    guests = _guests(_get(d, "guests", field, None), f"{field}.guests", dd.name)
    return Target(
        name=v.domain_name(_get(d, "name", field, target_name(dom0.host)), f"{field}.name"),
        dom0=dom0,
        driver_domain=dd,
        device=_device(_get(d, "device", field), f"{field}.device"),
        bridge=v.ifname(_get(d, "bridge", field, "xenbr0"), f"{field}.bridge"),
        guests=guests,
        config_dir=v.abs_path(_get(d, "config_dir", field, "/etc/xen"), f"{field}.config_dir"),
        extras={"lab": lab} if lab else {},
        console_log=None if d.get("console_log") is None else _file(
            d["console_log"], f"{field}.console_log", base),
        lan=lan_model.parse(d.get("lan"), f"{field}.lan", guests.names),
    )


def load(path: str | os.PathLike[str]) -> list[Target]:
    """Read and validate an inventory file; returns its targets."""
    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text())
    except OSError as e:
        raise InventoryError(f"inventory {p}: {e.strerror}") from e
    except yaml.YAMLError as e:
        raise InventoryError(f"inventory {p}: not valid YAML: {e}") from e
    return parse(data, base=p.resolve().parent)


def parse(data: Any, base: Path) -> list[Target]:
    data = _mapping(data, "inventory", "inventory")
    targets = _get(data, "targets", "inventory")
    if not isinstance(targets, list) or not targets:
        raise InventoryError("inventory.targets: expected a non-empty list")
    result = [_target(t, f"targets[{i}]", base) for i, t in enumerate(targets)]
    names = [t.name for t in result]
    if len(set(names)) != len(names):
        raise InventoryError(f"inventory.targets: duplicate target names in {names}")
    return result
