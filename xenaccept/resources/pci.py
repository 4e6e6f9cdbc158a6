"""PCI devices: who drives them (sysfs), what lspci says, what pciback holds."""

from __future__ import annotations

import posixpath
import re
import shlex
from dataclasses import dataclass

from xenaccept.errors import HarnessError
from xenaccept.model import validate
from xenaccept.transport.runner import Runner

_HEAD = re.compile(
    r"^(?P<slot>\S+) (?P<cls>.+?) \[(?P<code>[0-9a-f]{4})\]: (?P<desc>.*?) "
    r"\[(?P<vd>[0-9a-f]{4}:[0-9a-f]{4})\](?: \(rev [0-9a-f]+\))?(?: \(prog-if .*\))?$")
_NAME = re.compile(r"^(?P<text>.*?)\s*\[(?P<id>[0-9a-f]{4})\]$")


@dataclass(frozen=True)
class LspciDevice:
    slot: str            # as printed: 0000:00:05.0 with -D
    class_name: str      # Ethernet controller
    class_code: str      # 0200
    description: str     # Intel Corporation 82540EM Gigabit Ethernet Controller
    vendor_device: str   # 8086:100e
    driver: str | None   # Kernel driver in use
    modules: tuple[str, ...]


def parse_lspci_nnk(text: str) -> list[LspciDevice]:
    """Parse ``lspci -nnk`` (or ``-Dnnk``) output into devices."""
    devices: list[LspciDevice] = []
    head: re.Match[str] | None = None
    driver: str | None = None
    modules: tuple[str, ...] = ()

    def flush() -> None:
        if head is not None:
            devices.append(LspciDevice(head["slot"], head["cls"], head["code"], head["desc"],
                                       head["vd"], driver, modules))

    for line in text.splitlines():
        if not line.strip():
            continue
        if not line[0].isspace():
            flush()
            head, driver, modules = _HEAD.match(line), None, ()
            continue
        key, _, value = line.strip().partition(":")
        if key == "Kernel driver in use":
            driver = value.strip()
        elif key == "Kernel modules":
            modules = tuple(m.strip() for m in value.split(","))
    flush()
    return devices


def parse_pciback_slots(text: str) -> list[str]:
    """``/sys/bus/pci/drivers/pciback/slots`` lines -> canonical BDFs."""
    return [validate.bdf(line.split()[0]) for line in text.splitlines() if line.strip()]


@dataclass(frozen=True)
class Sysfs:
    """What sysfs says of a device, read in one command."""
    exists: bool
    driver: str | None          # basename of the driver link, None when unbound
    vendor_device: str | None   # 8086:100e
    net: tuple[str, ...]        # network interfaces it provides


_SYSFS_SCRIPT = ('d="$1"; [ -e "$d" ] || { echo exists=0; exit 0; }; echo exists=1; '
                 'echo "driver=$(readlink "$d/driver" 2>/dev/null)"; '
                 'echo "vendor=$(cat "$d/vendor")"; echo "device=$(cat "$d/device")"; '
                 'echo "net=$(ls -1 "$d/net" 2>/dev/null | tr "\\n" " ")"')


def parse_sysfs(text: str) -> Sysfs:
    """The output of :data:`_SYSFS_SCRIPT` (key=value lines) -> :class:`Sysfs`."""
    v = dict(line.partition("=")[::2] for line in text.splitlines() if "=" in line)
    if v.get("exists") != "1":
        return Sysfs(False, None, None, ())
    vendor, device = (v.get(k, "").strip().removeprefix("0x") for k in ("vendor", "device"))
    return Sysfs(True, posixpath.basename(v.get("driver", "").strip()) or None,
                 f"{vendor}:{device}" if vendor and device else None,
                 tuple(sorted(v.get("net", "").split())))


class PciDevice:
    """A PCI device on a host, by address."""

    def __init__(self, runner: Runner, bdf: str) -> None:
        self.runner = runner
        self.bdf = validate.bdf(bdf)
        self.sysfs = f"/sys/bus/pci/devices/{self.bdf}"

    def read(self) -> Sysfs:
        """Whether it exists, its driver, its IDs and its network interfaces, in one read
        (a read-only run reads it once)."""
        r = self.runner.run("sh", "-c", _SYSFS_SCRIPT, "sh", self.sysfs, once=True)
        return parse_sysfs(r.stdout) if r.ok else Sysfs(False, None, None, ())

    @property
    def exists(self) -> bool:
        return self.read().exists

    @property
    def driver(self) -> str | None:
        """Name of the bound driver (from the sysfs ``driver`` link), None when unbound."""
        return self.read().driver

    @property
    def vendor_device(self) -> str:
        found = self.read().vendor_device
        if found is None:
            raise HarnessError(f"no vendor:device ID in {self.sysfs} on {self.runner.name}")
        return found

    @property
    def net_interfaces(self) -> list[str]:
        """Network interfaces the device provides (``/sys/bus/pci/devices/BDF/net/``)."""
        return list(self.read().net)

    def lspci(self) -> LspciDevice | None:
        found = parse_lspci_nnk(self.runner.out("lspci", "-D", "-nnk", "-s", self.bdf,
                                                once=True))
        return found[0] if found else None


def lspci(runner: Runner) -> list[LspciDevice]:
    return parse_lspci_nnk(runner.out("lspci", "-D", "-nnk", once=True))


def pciback_slots(runner: Runner) -> list[str]:
    r = runner.run("cat", "/sys/bus/pci/drivers/pciback/slots", once=True)
    return parse_pciback_slots(r.stdout) if r.ok else []


def find_by_id(runner: Runner, vendor_device: str) -> list[LspciDevice]:
    """Devices whose ``vendor:device`` ID matches (how a passed-through device is found in
    the driver domain, where it sits at another address)."""
    return [d for d in lspci(runner) if d.vendor_device == vendor_device]


def net_interfaces(runner: Runner, bdf: str) -> list[str]:
    """Network interfaces a PCI device provides (``/sys/bus/pci/devices/BDF/net/``)."""
    return PciDevice(runner, bdf).net_interfaces


# the whole bus and the interfaces on it, for `init`: one round trip each; fixed scripts,
# nothing interpolated
BUS_SCRIPT = ('for d in /sys/bus/pci/devices/*; do printf "%s %s %s %s %s\\n" "${d##*/}" '
              '"$(cat "$d/class")" "$(cat "$d/vendor")" "$(cat "$d/device")" '
              '"$(readlink "$d/driver")"; done')
NET_SCRIPT = ('for n in /sys/class/net/*; do printf "%s %s\\n" "${n##*/}" '
              '"$(readlink -f "$n/device")"; done')


def parse_sysfs_pci(text: str) -> list[tuple[str, str, str, str | None]]:
    """:data:`BUS_SCRIPT` output -> (bdf, class 0x020000, vendor:device, driver) rows."""
    rows = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 4 and validate.is_full_bdf(parts[0].lower()):
            vd = f"{parts[2].lower().removeprefix('0x')}:{parts[3].lower().removeprefix('0x')}"
            driver = posixpath.basename(parts[4]) if len(parts) > 4 else None
            rows.append((parts[0].lower(), parts[1].lower(), vd, driver or None))
    return rows


def parse_lspci_mm(text: str) -> dict[str, tuple[str, str]]:
    """``lspci -Dnnmm`` -> {bdf: (class code 0200, "Vendor Device")}."""
    found = {}
    for line in text.splitlines():
        try:
            words = [w for w in shlex.split(line) if not re.match(r"^-[rp]\S*$", w)]
        except ValueError:
            continue
        if len(words) < 4 or not validate.is_full_bdf(words[0].lower()):
            continue
        cls, vendor, device = (_NAME.match(w) for w in words[1:4])
        if cls and vendor and device:
            found[words[0].lower()] = (cls["id"], f"{vendor['text']} {device['text']}".strip())
    return found


def parse_net_devices(text: str) -> dict[str, list[str]]:
    """:data:`NET_SCRIPT` output -> {bdf: [interfaces]}: the deepest PCI address on the
    interface's device path (a virtio NIC's interface hangs below ``BDF/virtioN``)."""
    found: dict[str, list[str]] = {}
    for line in text.splitlines():
        parts = line.split(maxsplit=1)
        if len(parts) != 2:
            continue
        bdfs = [c for c in parts[1].split("/") if validate.is_full_bdf(c.lower())]
        if bdfs:
            found.setdefault(bdfs[-1].lower(), []).append(parts[0])
    return {k: sorted(v) for k, v in found.items()}
