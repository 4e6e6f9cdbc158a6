"""What goes into the driver domain's disk from Dom0's packages: the packages it runs and
their dependencies (as dpkg lists them), and of their files only what the allow-lists keep
(under ``/etc``, only known prefixes)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

# what the driver domain runs; a package missing in Dom0 is an error when marked True
ROOTS: dict[str, bool] = {
    "systemd-sysv": True, "systemd": True, "udev": True, "openssh-server": True,
    "iproute2": True, "kmod": True, "procps": True, "xen-utils-common": True,
    "pciutils": False, "iputils-ping": False, "xenstore-utils": False, "bridge-utils": False,
    # the packet filters Dom0 has: the domain facing the network is where a firewall goes
    "nftables": False, "iptables": False,
}
XEN_UTILS = re.compile(r"^xen-utils-\d+\.\d+$")

# package files kept under /etc: only these (prefixes); the rest of /etc stays in Dom0
ETC_ALLOW = (
    "/etc/xen/scripts/", "/etc/systemd/", "/etc/pam.d/", "/etc/security/", "/etc/default/",
    "/etc/udev/", "/etc/modprobe.d/", "/etc/modules-load.d/", "/etc/sysctl.d/",
    "/etc/iproute2/", "/etc/ld.so.conf", "/etc/dbus-1/", "/etc/profile", "/etc/bash.bashrc",
    "/etc/login.defs", "/etc/debian_version", "/etc/issue", "/etc/os-release",
    "/etc/environment", "/etc/host.conf", "/etc/networks", "/etc/protocols",
    "/etc/services", "/etc/ethertypes", "/etc/rpc", "/etc/inputrc", "/etc/terminfo/",
    "/etc/ssh/moduli", "/etc/xattr.conf", "/etc/mime.types",
    "/etc/deluser.conf", "/etc/adduser.conf", "/etc/selinux/", "/etc/kernel/",
)
# not package files, but derived from packages and needed (with the symlinks of
# /etc/alternatives and the commands linked to them, PAM's stack, /etc/pam.d, which
# pam-auth-update writes at install, both added in Dom0): the linker cache, the
# name-service switch, the shells list, the time zone link
ETC_EXTRA = ("/etc/ld.so.cache", "/etc/nsswitch.conf", "/etc/shells",
             "/etc/localtime")
# bulk that nothing in the driver domain reads
USR_SKIP = ("/usr/share/doc/", "/usr/share/man/", "/usr/share/info/", "/usr/share/locale/",
            "/usr/share/lintian/", "/usr/share/bash-completion/", "/usr/share/zsh/")
TOP = ("/usr/", "/bin/", "/sbin/", "/lib/", "/lib64/", "/etc/")
MODULES = ("xen-netback", "xen-pcifront", "bridge")
# taken when Dom0's kernel has them: what nft, iptables(-nft) and a bridge firewall load
FILTER_MODULES = ("nf_tables", "nft_compat", "br_netfilter")
# what Debian's /etc/init.d/xen sets up in any Xen domain (it is a Dom0 script otherwise):
# the xenfs at /proc/xen, event channels and grant devices for `xl devd`, /run/xen
XEN_MODULES = ("xenfs", "xen-evtchn", "xen-gntdev", "xen-gntalloc", "xen-privcmd")


@dataclass(frozen=True)
class Package:
    name: str          # binary:Package (with :arch where dpkg needs it)
    essential: bool
    provides: tuple[str, ...]
    depends: tuple[tuple[str, ...], ...]   # each a list of alternatives
    size_kb: int


def _names(field: str) -> list[tuple[str, ...]]:
    """``a (>= 1) | b, c:any`` -> [("a", "b"), ("c",)] (versions and arch dropped)."""
    groups = []
    for group in field.split(","):
        alts = tuple(re.sub(r"\s*\(.*?\)|\s*\[.*?\]|:\w+", "", a).strip()
                     for a in group.split("|"))
        alts = tuple(a for a in alts if a)
        if alts:
            groups.append(alts)
    return groups


def parse_packages(text: str) -> dict[str, Package]:
    """``dpkg-query -W -f=QUERY`` (see :data:`QUERY`) -> installed packages by bare name."""
    pkgs: dict[str, Package] = {}
    for line in text.splitlines():
        parts = line.split("\t")
        if len(parts) != 7:
            continue
        binary, status, essential, provides, pre, dep, size = parts
        if not status.startswith("ii"):
            continue
        name = binary.split(":")[0]
        pkgs[name] = Package(binary, essential == "yes",
                             tuple(p[0] for p in _names(provides)),
                             tuple(_names(pre) + _names(dep)),
                             int(size) if size.isdigit() else 0)
    return pkgs


QUERY = ("${binary:Package}\t${db:Status-Abbrev}\t${Essential}\t${Provides}\t"
         "${Pre-Depends}\t${Depends}\t${Installed-Size}\n")


def closure(pkgs: dict[str, Package], roots: Iterable[str]) -> list[str]:
    """The packages ``roots`` need, with every Essential package, following Depends and
    Pre-Depends through installed packages (an alternative or a virtual name resolves to
    an installed package that provides it)."""
    providers: dict[str, list[str]] = {}
    for p in pkgs.values():
        for virtual in p.provides:
            providers.setdefault(virtual, []).append(p.name.split(":")[0])
    todo = [n for n in roots if n in pkgs] + [n for n, p in pkgs.items() if p.essential]
    seen: set[str] = set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for alts in pkgs[name].depends:
            for alt in alts:
                found = alt if alt in pkgs else next(iter(providers.get(alt, [])), None)
                if found:
                    todo.append(found)
                    break
    return sorted(seen)


def keep(path: str) -> bool:
    """Whether a package's file goes into the driver domain (the allow-list)."""
    if not path.startswith(TOP) or path.startswith(USR_SKIP):
        return False
    if path.startswith("/etc/security/"):  # PAM's settings; never opasswd (old hashes)
        return path.endswith(".conf")
    if path.startswith("/etc/"):
        return path.startswith(ETC_ALLOW)
    return True
