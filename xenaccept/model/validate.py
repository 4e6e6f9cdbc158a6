"""Validation of every value that ends up in a remote command or an xl config.

Each validator returns the value in canonical form or raises :class:`InventoryError` naming
the field. Values are checked against a strict pattern, not escaped: a value that passes holds
no shell or xl-config metacharacter at all (and is quoted anyway when used).
"""

from __future__ import annotations

import re

from xenaccept.errors import InventoryError

# a PCI address (domain:bus:slot.function, the domain optional): the one pattern of it
_BDF_TEXT = r"(?:([0-9a-fA-F]{4}):)?([0-9a-fA-F]{2}):([0-1][0-9a-fA-F])\.([0-7])"
_BDF = re.compile(rf"^{_BDF_TEXT}$")
BDF_IN_TEXT = re.compile(rf"\b{_BDF_TEXT}\b")   # found anywhere in a tool's output
_DOMAIN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_IFNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}$")
_MAC = re.compile(r"^[0-9a-fA-F]{2}(?::[0-9a-fA-F]{2}){5}$")
_MAC_PREFIX = re.compile(r"^[0-9a-fA-F]{2}(?::[0-9a-fA-F]{2}){4}$")
_PATH = re.compile(r"^/[A-Za-z0-9_./+-]*$")
_HOST = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.:-]{0,252}$")
_USER = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")
_DRIVER = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_DISK = re.compile(r"^[A-Za-z0-9_:/.,=+-]+$")
_EXTRA = re.compile(r"^[A-Za-z0-9_.,:=/()+ -]*$")


def _check(pattern: re.Pattern[str], value: object, field: str, what: str) -> str:
    if not isinstance(value, str) or not pattern.match(value):
        raise InventoryError(f"{field}: {value!r} is not {what}")
    return value


def bdf(value: object, field: str = "device.bdf") -> str:
    """A PCI address, returned with its domain: ``00:05.0`` -> ``0000:00:05.0``.

    >>> bdf("00:05.0")
    '0000:00:05.0'
    """
    s = _check(_BDF, value, field, "a PCI address like 0000:00:05.0")
    m = _BDF.match(s)
    assert m is not None
    dom = m.group(1) or "0000"
    return f"{dom}:{m.group(2)}:{m.group(3)}.{m.group(4)}".lower()



def is_full_bdf(text: str) -> bool:
    """Whether ``text`` is a PCI address as sysfs and ``lspci -D`` print it (with its
    domain, lowercase): ``0000:00:05.0``."""
    m = _BDF.match(text)
    return bool(m and m.group(1)) and text == text.lower()

def domain_name(value: object, field: str = "domain name") -> str:
    """A Xen domain name (letters, digits, ``_ . -``; no leading punctuation)."""
    s = _check(_DOMAIN_NAME, value, field, "a domain name (letters, digits, _ . -)")
    if s.lower() in {"domain-0", "dom0"}:
        raise InventoryError(f"{field}: {value!r} names Dom0, which the suite never creates")
    return s


def ifname(value: object, field: str = "interface") -> str:
    """A Linux network interface name (at most 15 characters)."""
    return _check(_IFNAME, value, field, "a network interface name (max 15 chars)")


def mac(value: object, field: str = "mac") -> str:
    return _check(_MAC, value, field, "a MAC address like 00:16:3e:00:00:01").lower()


def mac_prefix(value: object, field: str = "guests.mac_prefix") -> str:
    return _check(_MAC_PREFIX, value, field, "five MAC octets like 00:16:3e:5a:00").lower()


def abs_path(value: object, field: str) -> str:
    s = _check(_PATH, value, field, "an absolute path of plain characters")
    if "/../" in s + "/" or s.endswith("/.."):
        raise InventoryError(f"{field}: {value!r} must not contain '..'")
    return s


def host(value: object, field: str) -> str:
    return _check(_HOST, value, field, "a host name or address")


def _whole(value: object, field: str, maximum: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= maximum:
        raise InventoryError(f"{field}: {value!r} is not {what}")
    return value


def port(value: object, field: str) -> int:
    return _whole(value, field, 65535, "a TCP port (1-65535)")


def user(value: object, field: str) -> str:
    return _check(_USER, value, field, "a user name")


def driver(value: object, field: str) -> str:
    return _check(_DRIVER, value, field, "a kernel driver name")


def positive_int(value: object, field: str, maximum: int = 1 << 20) -> int:
    return _whole(value, field, maximum, f"a whole number from 1 to {maximum}")


def xl_disk(value: object, field: str) -> str:
    """An xl disk spec such as ``phy:/dev/vdb,xvda,w`` (no quotes, brackets or spaces)."""
    return _check(_DISK, value, field, "an xl disk spec like phy:/dev/vdb,xvda,w")


def kernel_args(value: object, field: str) -> str:
    """Kernel command-line arguments for a domain's ``extra =`` (no quotes or shell syntax)."""
    return _check(_EXTRA, value, field, "kernel arguments of plain characters")
