"""The inventory: which hosts to check and how the setup is meant to look.

Loaded from YAML and validated field by field before any SSH: a malformed value raises
:class:`InventoryError` naming the field (``targets[0].device.bdf: '00:05.0; reboot' is not
a PCI address``). Schema: see ``inventory.example.yaml``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from . import validate as v
from .errors import InventoryError
from .ssh import SSHSpec


@dataclass(frozen=True)
class DriverDomain:
    name: str
    ssh: SSHSpec
    memory: int
    vcpus: int
    disk: str
    kernel: str
    ramdisk: str
    extra: str
    nic: str
    boot_timeout: int = 420   # seconds from `xl create` to its SSH answering


@dataclass(frozen=True)
class Device:
    bdf: str
    native_driver: str


@dataclass(frozen=True)
class Guests:
    names: tuple[str, ...]
    memory: int
    kernel: str
    ramdisk: str
    extra: str
    mac_prefix: str

    def mac(self, index: int) -> str:
        """MAC of guest ``index`` (0-based): ``mac_prefix`` plus the index as last octet."""
        return f"{self.mac_prefix}:{index + 1:02x}"


@dataclass(frozen=True)
class Target:
    name: str
    dom0: SSHSpec
    driver_domain: DriverDomain
    device: Device
    bridge: str
    guests: Guests
    config_dir: str = "/etc/xen"

    def config_path(self, domain: str) -> str:
        return f"{self.config_dir}/{domain}.cfg"

    def __repr__(self) -> str:  # what reports show as the parameter: the name, no paths
        return f"Target({self.name!r})"


def _get(d: Any, key: str, field: str, default: Any = ...) -> Any:
    if not isinstance(d, dict):
        raise InventoryError(f"{field}: expected a mapping, got {type(d).__name__}")
    if key not in d:
        if default is ...:
            raise InventoryError(f"{field}.{key}: missing")
        return default
    return d[key]


def _ssh(d: Any, field: str, base: Path) -> SSHSpec:
    def path(key: str) -> str:
        raw = _get(d, key, field)
        if not isinstance(raw, str):
            raise InventoryError(f"{field}.{key}: {raw!r} is not a path")
        p = Path(os.path.expanduser(raw))
        p = p if p.is_absolute() else (base / p)
        if not p.is_file():
            raise InventoryError(f"{field}.{key}: {str(p)!r} does not exist")
        return str(p.resolve())

    return SSHSpec(
        host=v.host(_get(d, "host", field), f"{field}.host"),
        port=v.port(_get(d, "port", field, 22), f"{field}.port"),
        user=v.user(_get(d, "user", field, "root"), f"{field}.user"),
        key_file=path("key_file"),
        known_hosts=path("known_hosts"),
    )


def _target(d: Any, field: str, base: Path) -> Target:
    dd = _get(d, "driver_domain", field)
    f_dd = f"{field}.driver_domain"
    dev = _get(d, "device", field)
    f_dev = f"{field}.device"
    g = _get(d, "guests", field)
    f_g = f"{field}.guests"
    kernel = v.abs_path(_get(dd, "kernel", f_dd), f"{f_dd}.kernel")
    ramdisk = v.abs_path(_get(dd, "ramdisk", f_dd), f"{f_dd}.ramdisk")
    prefix = v.domain_name(_get(g, "name_prefix", f_g, "xa-guest"), f"{f_g}.name_prefix")
    if "names" in g:
        raw_names = _get(g, "names", f_g)
        if not isinstance(raw_names, list) or not raw_names:
            raise InventoryError(f"{f_g}.names: expected a non-empty list")
        names = tuple(v.domain_name(n, f"{f_g}.names[{i}]") for i, n in enumerate(raw_names))
    else:
        count = v.positive_int(_get(g, "count", f_g, 2), f"{f_g}.count", maximum=64)
        names = tuple(f"{prefix}{i + 1}" for i in range(count))
    dd_name = v.domain_name(_get(dd, "name", f_dd), f"{f_dd}.name")
    if dd_name in names:
        raise InventoryError(f"{f_g}.names: {dd_name!r} is the driver domain's name")
    return Target(
        name=v.domain_name(_get(d, "name", field), f"{field}.name"),
        dom0=_ssh(_get(d, "dom0", field), f"{field}.dom0", base),
        driver_domain=DriverDomain(
            name=dd_name,
            ssh=_ssh(_get(dd, "ssh", f_dd), f"{f_dd}.ssh", base),
            memory=v.positive_int(_get(dd, "memory", f_dd, 1024), f"{f_dd}.memory"),
            vcpus=v.positive_int(_get(dd, "vcpus", f_dd, 1), f"{f_dd}.vcpus", maximum=128),
            disk=v.xl_disk(_get(dd, "disk", f_dd), f"{f_dd}.disk"),
            kernel=kernel,
            ramdisk=ramdisk,
            extra=v.kernel_args(_get(dd, "extra", f_dd, ""), f"{f_dd}.extra"),
            nic=v.ifname(_get(dd, "nic", f_dd, "eth0"), f"{f_dd}.nic"),
            boot_timeout=v.positive_int(_get(dd, "boot_timeout", f_dd, 420),
                                        f"{f_dd}.boot_timeout", maximum=3600),
        ),
        device=Device(
            bdf=v.bdf(_get(dev, "bdf", f_dev), f"{f_dev}.bdf"),
            native_driver=v.driver(_get(dev, "native_driver", f_dev), f"{f_dev}.native_driver"),
        ),
        bridge=v.ifname(_get(d, "bridge", field, "xenbr0"), f"{field}.bridge"),
        guests=Guests(
            names=names,
            memory=v.positive_int(_get(g, "memory", f_g, 512), f"{f_g}.memory"),
            kernel=v.abs_path(_get(g, "kernel", f_g, kernel), f"{f_g}.kernel"),
            ramdisk=v.abs_path(_get(g, "ramdisk", f_g, ramdisk), f"{f_g}.ramdisk"),
            extra=v.kernel_args(_get(g, "extra", f_g, "console=hvc0"), f"{f_g}.extra"),
            mac_prefix=v.mac_prefix(_get(g, "mac_prefix", f_g, "00:16:3e:5a:00"),
                                    f"{f_g}.mac_prefix"),
        ),
        config_dir=v.abs_path(_get(d, "config_dir", field, "/etc/xen"), f"{field}.config_dir"),
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
    targets = _get(data, "targets", "inventory")
    if not isinstance(targets, list) or not targets:
        raise InventoryError("inventory.targets: expected a non-empty list")
    result = [_target(t, f"targets[{i}]", base) for i, t in enumerate(targets)]
    names = [t.name for t in result]
    if len(set(names)) != len(names):
        raise InventoryError(f"inventory.targets: duplicate target names in {names}")
    return result
