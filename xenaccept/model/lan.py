"""The LAN the passed-through NIC joins, as the inventory gives it (``lan:``).

By default the guests take a lease from the LAN's DHCP server and ping the gateway it
names (its DHCP server when it names none). ``peer`` names a TCP server on the LAN that
the guests reach for bulk transfers: the suite's own LAN peer, which it runs on this
machine at ``listen`` (default: all of this machine's addresses, the peer's port).
``addresses`` gives the guests static addresses instead of DHCP (with ``gateway``).
``lan: none`` opts out: the LAN scenarios are then skipped, saying so.

    lan:
      peer: 192.0.2.5:7000          # this machine, as the guests reach it
      listen: 0.0.0.0:7000
      addresses: {xa-guest1: 192.0.2.21/24, xa-guest2: 192.0.2.22/24}
      gateway: 192.0.2.1
      bytes: 524288                 # moved each way by each guest (default 512 KiB)
      forwards: {192.0.2.30:22: 127.0.0.1:2201}

``forwards`` says how this machine reaches an address on the LAN when it is not on it (a
NAT's port forwards, the lab's loopback ports): the suite connects to a driver domain that
says its address in xenstore through the forward of that address and port, if any.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from typing import Any

from xenaccept.errors import InventoryError
from xenaccept.model import validate as v

FIELDS = {"peer", "listen", "addresses", "gateway", "bytes", "forwards"}
DEFAULT_BYTES = 512 << 10
MAX_BYTES = 256 << 20


@dataclass(frozen=True)
class LAN:
    enabled: bool = True
    peer: tuple[str, int] | None = None      # IPv4 and port, as the guests reach it
    listen: tuple[str, int] | None = None    # where the suite's peer listens on this machine
    addresses: dict[str, str] = field(default_factory=dict)  # guest -> "a.b.c.d/len"
    gateway: str | None = None
    bytes: int = DEFAULT_BYTES
    # (LAN address, port) -> (address, port) where this machine reaches it
    forwards: dict[tuple[str, int], tuple[str, int]] = field(default_factory=dict)

    def reached_at(self, host: str, port: int) -> tuple[str, int]:
        """Where this machine connects to reach ``host:port`` on the LAN."""
        return self.forwards.get((host, port), (host, port))

    @property
    def dhcp(self) -> bool:
        return self.enabled and not self.addresses


def _ipv4(raw: Any, where: str) -> str:
    try:
        return str(ipaddress.IPv4Address(str(raw)))
    except ValueError as e:
        raise InventoryError(f"{where}: {raw!r} is not an IPv4 address") from e


def _endpoint(raw: Any, where: str, *, any_host: bool = False) -> tuple[str, int]:
    m = re.fullmatch(r"([0-9.]+):(\d+)", str(raw))
    if not m:
        raise InventoryError(f"{where}: {raw!r} is not IPv4:port, like 192.0.2.5:7000")
    host = m.group(1) if any_host and m.group(1) == "0.0.0.0" else _ipv4(m.group(1), where)
    return host, v.port(int(m.group(2)), where)


def _iface(raw: Any, where: str) -> str:
    if "/" not in str(raw):
        raise InventoryError(f"{where}: {raw!r} lacks its prefix length (/24, say)")
    try:
        return str(ipaddress.IPv4Interface(str(raw)))
    except ValueError as e:
        raise InventoryError(f"{where}: {raw!r} is not an IPv4 address with its prefix "
                             "length, like 192.0.2.21/24") from e


def parse(raw: Any, where: str, guests: tuple[str, ...]) -> LAN:
    """``lan:`` of a target: absent (DHCP, no peer), ``none``, or a mapping."""
    if raw is None:
        return LAN()
    if raw == "none" or raw is False:
        return LAN(enabled=False)
    if not isinstance(raw, dict):
        raise InventoryError(f"{where}: expected a mapping or `none`, got {raw!r}")
    unknown = set(raw) - FIELDS
    if unknown:
        raise InventoryError(f"{where}: unknown field(s) {sorted(unknown)}; known: "
                             f"{sorted(FIELDS)}")
    peer = None if raw.get("peer") is None else _endpoint(raw["peer"], f"{where}.peer")
    listen = None if raw.get("listen") is None else _endpoint(
        raw["listen"], f"{where}.listen", any_host=True)
    if listen and not peer:
        raise InventoryError(f"{where}.listen: only with lan.peer")
    if peer and not listen:
        listen = ("0.0.0.0", peer[1])
    addresses: dict[str, str] = {}
    raw_addr = raw.get("addresses") or {}
    if not isinstance(raw_addr, dict):
        raise InventoryError(f"{where}.addresses: expected a mapping guest -> address/len")
    for name, addr in raw_addr.items():
        if name not in guests:
            raise InventoryError(f"{where}.addresses: {name!r} is not one of the guests "
                                 f"{list(guests)}")
        addresses[name] = _iface(addr, f"{where}.addresses.{name}")
    if addresses and set(addresses) != set(guests):
        raise InventoryError(f"{where}.addresses: give every guest an address or none "
                             f"(missing: {sorted(set(guests) - set(addresses))})")
    gateway = None if raw.get("gateway") is None else _ipv4(raw["gateway"], f"{where}.gateway")
    if gateway and not addresses:
        raise InventoryError(f"{where}.gateway: only with lan.addresses (DHCP names it)")
    raw_fwd = raw.get("forwards") or {}
    if not isinstance(raw_fwd, dict):
        raise InventoryError(f"{where}.forwards: expected a mapping LAN address:port -> "
                             "address:port")
    forwards = {_endpoint(k, f"{where}.forwards"): _endpoint(x, f"{where}.forwards.{k}")
                for k, x in raw_fwd.items()}
    return LAN(peer=peer, listen=listen, addresses=addresses, gateway=gateway,
               forwards=forwards,
               bytes=v.positive_int(raw.get("bytes", DEFAULT_BYTES), f"{where}.bytes",
                                    maximum=MAX_BYTES))
