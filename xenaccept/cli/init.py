"""``python -m xenaccept init HOST``: a first look at a Xen host, read-only.

Lists the PCI network controllers of Dom0 (class 0x02xx) with their driver and interfaces,
marks the one(s) carrying Dom0's own traffic (the default routes, the address this SSH
session comes in on, also through a bridge, bond or VLAN on top of the NIC): hiding such a
NIC would cut Dom0 off, so it is never offered. Tells whether an IOMMU is in use, and
writes a minimal inventory for the chosen NIC. The parsers are pure functions of the
commands' outputs.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import shlex
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from xenaccept.errors import HarnessError, InventoryError
from xenaccept.model import inventory, validate
from xenaccept.model.ssh import SSHSpec
from xenaccept.resources import pci
from xenaccept.resources.xl import Xl
from xenaccept.transport.runner import Runner
from xenaccept.transport.ssh import SSHRunner

DIRECTIO = ("hvm_directio", "pv_directio")



@dataclass(frozen=True)
class Nic:
    bdf: str
    vendor_device: str                 # 8086:100e
    name: str                          # Intel Corporation 82540EM Gigabit Ethernet Controller
    driver: str | None                 # e1000, pciback, None when unbound
    interfaces: tuple[str, ...] = ()
    carries: tuple[str, ...] = ()      # why it carries Dom0's traffic: "eth0: IPv4 default route"

    @property
    def offered(self) -> bool:
        return not self.carries


@dataclass
class Survey:
    host: str
    nics: list[Nic] = field(default_factory=list)
    virt_caps: set[str] | None = None  # None: `xl info` failed
    xl_error: str = ""

    @property
    def iommu(self) -> bool:
        return bool(self.virt_caps and self.virt_caps & set(DIRECTIO))

    @property
    def candidates(self) -> list[Nic]:
        return [n for n in self.nics if n.offered]


# -- parsers ---------------------------------------------------------------------------
def _json(text: str, what: str) -> list[dict[str, Any]]:
    try:
        data = json.loads(text) if text.strip() else []
    except json.JSONDecodeError as e:
        raise HarnessError(f"{what}: not JSON: {e}") from e
    return [d for d in data if isinstance(d, dict)] if isinstance(data, list) else []


def parse_route_devices(text: str) -> list[str]:
    """``ip -j route show default`` (or ``-6``) -> the devices of the default routes
    (multipath routes too)."""
    devs = []
    for route in _json(text, "ip route"):
        for hop in [route] + list(route.get("nexthops") or []):
            if isinstance(hop, dict) and hop.get("dev") and hop["dev"] not in devs:
                devs.append(str(hop["dev"]))
    return devs


def parse_ssh_server_address(text: str) -> str | None:
    """``$SSH_CONNECTION`` (client_ip client_port server_ip server_port) -> server_ip."""
    parts = text.split()
    return parts[2] if len(parts) == 4 else None


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        ip = ipaddress.ip_address(text.split("%")[0])
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        return ip.ipv4_mapped
    return ip


def parse_address_owner(text: str, address: str) -> str | None:
    """``ip -j addr`` -> the interface holding ``address``."""
    wanted = _ip(address)
    for link in _json(text, "ip addr"):
        for a in link.get("addr_info") or []:
            if wanted is not None and _ip(str(a.get("local", ""))) == wanted:
                return str(link.get("ifname"))
    return None


def parse_uppers(text: str) -> dict[str, set[str]]:
    """``ip -j link`` -> {interface: the interfaces stacked on it}: its bridge or bond
    (``master``) and VLANs or macvlans on it (``link``)."""
    uppers: dict[str, set[str]] = {}
    for link in _json(text, "ip link"):
        name = link.get("ifname")
        if name and link.get("link"):
            uppers.setdefault(str(link["link"]), set()).add(str(name))
        if name and link.get("master"):
            uppers.setdefault(str(name), set()).add(str(link["master"]))
    return uppers


def carried(interfaces: Iterable[str], dom0_ifaces: dict[str, str],
            uppers: dict[str, set[str]]) -> tuple[str, ...]:
    """Why these interfaces carry Dom0's traffic: each reason names the interface of
    ``dom0_ifaces`` ({interface: reason}) they are, or are below (bridge, bond, VLAN)."""
    reasons = []
    for iface in interfaces:
        seen: set[str] = set()
        todo = [iface]
        while todo:
            cur = todo.pop()
            if cur in seen or len(seen) > 64:
                continue
            seen.add(cur)
            if cur in dom0_ifaces:
                via = "" if cur == iface else f" (through {cur})"
                reasons.append(f"{iface}: {dom0_ifaces[cur]}{via}")
            todo.extend(uppers.get(cur, ()))
    return tuple(dict.fromkeys(reasons))


def nics(pci_text: str, lspci_text: str, net_text: str, dom0_ifaces: dict[str, str],
         link_text: str) -> list[Nic]:
    """The network controllers (class 0x02xx) from the outputs gathered by :func:`survey`."""
    names = pci.parse_lspci_mm(lspci_text)
    nets = pci.parse_net_devices(net_text)
    uppers = parse_uppers(link_text)
    found = []
    for bdf, cls, vd, driver in pci.parse_sysfs_pci(pci_text):
        if not cls.removeprefix("0x").startswith("02"):
            continue
        ifaces = tuple(nets.get(bdf, ()))
        found.append(Nic(bdf, vd, names.get(bdf, ("", ""))[1], driver, ifaces,
                         carried(ifaces, dom0_ifaces, uppers)))
    return found


def dom0_interfaces(route4: str, route6: str, ssh_connection: str,
                    addr_text: str) -> dict[str, str]:
    """{interface: why it carries Dom0's traffic} from the default routes and the address
    this SSH session came in on."""
    found: dict[str, str] = {}
    for text, family in ((route4, "IPv4"), (route6, "IPv6")):
        for dev in parse_route_devices(text):
            found.setdefault(dev, f"{family} default route")
    server = parse_ssh_server_address(ssh_connection)
    owner = parse_address_owner(addr_text, server) if server else None
    if owner:
        found.setdefault(owner, f"this SSH session ({server})")
    return found


# -- the host ----------------------------------------------------------------------------
def survey(runner: Runner, host: str | None = None) -> Survey:
    """Read what ``init`` shows (read-only commands only)."""
    def out(*argv: str) -> str:
        r = runner.run(*argv)
        return r.stdout if r.ok else ""

    ssh_connection = runner.run("sh", "-c", 'printf "%s" "$SSH_CONNECTION"').stdout
    dom0 = dom0_interfaces(out("ip", "-j", "route", "show", "default"),
                           out("ip", "-j", "-6", "route", "show", "default"),
                           ssh_connection, out("ip", "-j", "addr"))
    s = Survey(host or runner.name)
    s.nics = nics(runner.out("sh", "-c", pci.BUS_SCRIPT), out("lspci", "-Dnnmm"),
                  out("sh", "-c", pci.NET_SCRIPT), dom0, out("ip", "-j", "link"))
    try:
        s.virt_caps = Xl(runner).virt_caps()
    except HarnessError as e:
        s.xl_error = str(e)
    return s


def render(s: Survey) -> str:
    """The table of NICs and the IOMMU verdict."""
    head = ("BDF", "ID", "NAME", "DRIVER", "INTERFACES", "DOM0 TRAFFIC")
    rows = [head] + [(n.bdf, n.vendor_device, n.name or "-", n.driver or "(none)",
                      ",".join(n.interfaces) or "-",
                      "YES, never offered: " + "; ".join(n.carries) if n.carries else "no")
                     for n in s.nics]
    widths = [max(len(r[i]) for r in rows) for i in range(len(head) - 1)]
    lines = [f"PCI network controllers of {s.host}:"]
    lines += ["  " + "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=False)) + "  " + r[-1]
              for r in rows]
    if not s.nics:
        lines.append("  (none found)")
    if s.virt_caps is None:
        lines.append(f"IOMMU: unknown, `xl info` failed ({s.xl_error}); is this a Xen Dom0?")
    elif s.iommu:
        lines.append("IOMMU: in use (virt_caps: "
                     + " ".join(c for c in DIRECTIO if c in s.virt_caps) + ")")
    else:
        lines.append("WARNING: no IOMMU in use (virt_caps has neither hvm_directio nor "
                     "pv_directio): PCI passthrough is impossible on this host; enable VT-d/"
                     "AMD-Vi in the firmware and iommu=1 on Xen's command line")
    return "\n".join(lines)


def choose(s: Survey, device: str | None, ask: Callable[[str], str] | None) -> Nic:
    """The NIC to put in the inventory: ``device`` if given (refused if it carries Dom0's
    traffic), the only candidate, or the one ``ask`` picks; raises InventoryError."""
    if device is not None:
        bdf = validate.bdf(device, "--device")
        nic = next((n for n in s.nics if n.bdf == bdf), None)
        if nic is None:
            raise InventoryError(f"--device: {bdf} is not a network controller of {s.host} "
                                 f"(found: {', '.join(n.bdf for n in s.nics) or 'none'})")
        if nic.carries:
            raise InventoryError(f"--device: {bdf} carries Dom0's own traffic "
                                 f"({'; '.join(nic.carries)}): hiding it would cut Dom0 off")
        return nic
    cands = s.candidates
    if not cands:
        raise InventoryError(f"no NIC of {s.host} can be passed through: every network "
                             "controller carries Dom0's own traffic, or there is none")
    if len(cands) == 1:
        return cands[0]
    if ask is None:
        raise InventoryError(f"{len(cands)} candidate NICs ({', '.join(n.bdf for n in cands)})"
                             ": pick one with --device BDF")
    prompt = "\n".join(f"  {i}) {n.bdf} {n.name}" for i, n in enumerate(cands, 1))
    while True:
        answer = ask(f"Which NIC goes to the driver domain?\n{prompt}\nNumber or BDF: ").strip()
        for i, n in enumerate(cands, 1):
            if answer in (str(i), n.bdf, n.bdf.removeprefix("0000:")):
                return n


def inventory_yaml(name: str, spec: SSHSpec, bdf: str, driver_domain: dict[str, str] | None
                   = None) -> str:
    """The minimal inventory: the target's name, Dom0 (as typed, with the options given),
    the device, and where the driver domain will answer when told (``ssh`` or a static
    ``address``; without either it is reached where it says, and the file says so)."""
    options = {k: getattr(spec, k) for k in ("port", "user", "key_file", "known_hosts",
                                             "ssh_config") if getattr(spec, k) is not None}
    dom0: str | dict[str, Any] = {"host": spec.host, **options} if options else spec.host
    target: dict[str, Any] = {"name": validate.domain_name(name, "--name"), "dom0": dom0,
                              "device": validate.bdf(bdf)}
    if driver_domain:
        target["driver_domain"] = driver_domain
    text = ("# written by `python -m xenaccept init`; see inventory.example.yaml for the rest\n"
            + yaml.safe_dump({"targets": [target]}, sort_keys=False,
                             default_flow_style=False))
    if not driver_domain:
        text += ("    # the driver domain the suite builds takes a lease on the NIC's LAN and says\n"
                 "    # in xenstore where it answers; this machine reaches it there. When only\n"
                 "    # Dom0 reaches that LAN: driver_domain: {ssh: {via: dom0}}\n")
    return text


# -- the command -------------------------------------------------------------------------
def add_parser(sub: Any) -> None:
    p = sub.add_parser("init", help="look at a Xen host (read-only): its NICs, which one "
                       "carries Dom0's traffic, the IOMMU; write a minimal inventory")
    p.add_argument("host", help="Dom0: an address or an ssh_config Host alias")
    p.add_argument("--ssh-config", help="ssh_config to read (default ~/.ssh/config; '' none)")
    p.add_argument("--port", type=int)
    p.add_argument("--user")
    p.add_argument("--key-file")
    p.add_argument("--known-hosts")
    p.add_argument("--output", help="write the inventory there (never overwritten)")
    p.add_argument("--name", help="the target's name (default: from HOST)")
    p.add_argument("--device", help="the NIC to pass through (BDF)")
    p.add_argument("--driver-domain-ssh", metavar="HOST[:PORT]",
                   help="where the driver domain will answer over SSH")
    p.add_argument("--driver-domain-address", metavar="A.B.C.D/LEN",
                   help="a static address for the driver domain (reached through Dom0)")


def spec_of(a: argparse.Namespace) -> SSHSpec:
    """HOST and the options as an SSHSpec (``user@host`` is split; the values used are
    validated when the spec is resolved)."""
    user, _, host = a.host.rpartition("@")
    if user and a.user:
        raise InventoryError(f"HOST {a.host!r} and --user both give a user")
    return SSHSpec(host=host, port=a.port, user=user or a.user, key_file=a.key_file,
                   known_hosts=a.known_hosts, ssh_config=a.ssh_config)


def run(a: argparse.Namespace, *, out: Callable[[str], None] = print,
        ask: Callable[[str], str] | None = None,
        connect: Callable[[SSHSpec], Runner] | None = None) -> int:
    """``init``: prints the survey, writes the inventory when ``a.output`` is given; returns
    0, raises XenAcceptError (no NIC to offer, a refused ``--device``, SSH errors, ...)."""
    spec = spec_of(a)
    name = validate.domain_name(a.name, "--name") if a.name else inventory.target_name(spec.host)
    if a.output and Path(a.output).exists():
        raise InventoryError(f"--output: {a.output} exists; not overwriting it")
    runner = connect(spec) if connect else SSHRunner("dom0", spec, read_only=True)
    try:
        s = survey(runner, a.host)
    finally:
        runner.close()
    out(render(s))
    if not a.output:
        if s.candidates:
            out(f"Write an inventory with: python -m xenaccept init {shlex.quote(a.host)} "
                "--output inventory.yaml [--device BDF]")
        return 0
    nic = choose(s, a.device, ask)
    dd = {k: v for k, v in (("ssh", a.driver_domain_ssh),
                            ("address", a.driver_domain_address)) if v}
    Path(a.output).write_text(inventory_yaml(name, spec, nic.bdf, dd or None))
    out(f"wrote {a.output}: target {name}, device {nic.bdf} ({nic.name or nic.vendor_device})")
    if not s.iommu:
        out("(the passthrough scenarios will be skipped until an IOMMU is in use)")
    return 0


def interactive_ask() -> Callable[[str], str] | None:
    return input if sys.stdin.isatty() and sys.stdout.isatty() else None

