"""A target as the suite uses it: Dom0, the device, the driver domain, the bridge and the
guests, every value validated and every default filled in (:mod:`.inventory` makes them
from YAML)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from xenaccept.model.lan import LAN
from xenaccept.model.ssh import PUBLISHED, SSHSpec

__all__ = ["PUBLISHED"]

DEFAULT_DRVDOM_EXTRA = "root=/dev/xvda rw console=hvc0 net.ifnames=0"


@dataclass(frozen=True)
class DriverDomain:
    name: str
    ssh: SSHSpec | None       # None: the suite's own driver domain, reached through Dom0
    memory: int
    vcpus: int
    disk: str | None          # None: the suite builds the driver domain's disk in Dom0
    kernel: str | None        # None: Dom0's own (read from the host)
    ramdisk: str | None
    extra: str
    nic: str
    boot_timeout: int = 420   # seconds from `xl create` to its SSH answering
    address: str | None = None   # static IPv4 "a.b.c.d/len" of a built domain; None: DHCP
    gateway: str | None = None
    authorized_keys: tuple[str, ...] = ()   # public keys authorized in a built domain
    # reached at the address it says in xenstore (no ssh.host, no static address): ssh.host
    # is PUBLISHED until Dom0 has read it (provision.reach)
    published: bool = False

    @property
    def built(self) -> bool:
        """The suite builds this driver domain (no disk of the operator's)."""
        return self.disk is None


@dataclass(frozen=True)
class Device:
    bdf: str
    native_driver: str | None   # None: read from the host (sysfs) before anything changes


@dataclass(frozen=True)
class Guests:
    names: tuple[str, ...]
    memory: int
    kernel: str | None          # None: Dom0's own
    ramdisk: str | None         # None: the suite's guest payload, built in Dom0
    extra: str | None           # None: what the payload needs
    mac_prefix: str

    def mac(self, index: int) -> str:
        """MAC of guest ``index`` (0-based): ``mac_prefix`` plus the index as last octet."""
        return f"{self.mac_prefix}:{index + 1:02x}"

    @property
    def built(self) -> bool:
        """The guests boot the suite's payload (no ramdisk of the operator's)."""
        return self.ramdisk is None


@dataclass(frozen=True)
class Target:
    name: str
    dom0: SSHSpec
    driver_domain: DriverDomain
    device: Device
    bridge: str
    guests: Guests
    config_dir: str = "/etc/xen"
    extras: dict[str, Any] = field(default_factory=dict, compare=False)  # e.g. `lab:`
    # a file on this machine where Dom0's serial console is logged (conserver, a BMC's
    # serial-over-LAN log, the lab's QEMU): a reboot that goes silent there is reported as
    # a stuck boot in seconds, with where the console stopped
    console_log: str | None = None
    lan: LAN = field(default_factory=LAN)   # the LAN the NIC joins (model/lan.py)

    def config_path(self, domain: str) -> str:
        return f"{self.config_dir}/{domain}.cfg"

    def __repr__(self) -> str:  # what reports show as the parameter: the name, no paths
        return f"Target({self.name!r})"
