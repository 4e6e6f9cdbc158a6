"""The xl toolstack in Dom0: facts it reports, domains it runs, configs it reads."""

from __future__ import annotations

import re
from dataclasses import dataclass

from xenaccept.model import validate
from xenaccept.names import MARKER
from xenaccept.resources.xenstore import Backend, assignable_node, parse_backends
from xenaccept.transport.runner import Result, Runner


@dataclass(frozen=True)
class Domain:
    name: str
    domid: int
    memory: int
    vcpus: int
    state: str


@dataclass(frozen=True)
class Vif:
    devid: int
    backend_domid: int
    mac: str
    state: int


def parse_info(text: str) -> dict[str, str]:
    """``xl info`` -> {key: value}; keys and values stripped (values may hold colons)."""
    info: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip():
            info[key.strip()] = value.strip()
    return info


def parse_list(text: str) -> list[Domain]:
    """``xl list`` -> domains (the header line is skipped)."""
    domains = []
    for line in text.splitlines()[1:]:
        parts = line.split()
        if len(parts) < 6:
            continue
        name = " ".join(parts[:-5])
        domid, mem, vcpus, state = parts[-5:-1]
        domains.append(Domain(name, int(domid), int(mem), int(vcpus), state))
    return domains


def parse_bdfs(text: str) -> list[str]:
    """Every PCI address in a listing (``xl pci-assignable-list``, ``xl pci-list``)."""
    return [validate.bdf(m.group(0), "xl output") for m in validate.BDF_IN_TEXT.finditer(text)]


def parse_network_list(text: str) -> list[Vif]:
    """``xl network-list DOM`` -> vifs (Idx, BE, Mac Addr., handle, state, ...)."""
    vifs = []
    for line in text.splitlines()[1:]:
        parts = line.split()
        if len(parts) >= 5 and parts[0].isdigit():
            vifs.append(Vif(int(parts[0]), int(parts[1]), parts[2].lower(), int(parts[4])))
    return vifs


def parse_config(text: str) -> dict[str, object]:
    """A small reader for xl domain config files: strings, numbers, lists of strings.

    Enough to answer "does the config have pci = [ 'BDF' ] and driver_domain = 1"; lines
    it does not understand are kept as raw text.
    """
    conf: dict[str, object] = {}
    # join list values spanning several lines
    text = re.sub(r"\[[^\]]*\]", lambda m: m.group(0).replace("\n", " "), text)
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        key, sep, value = line.partition("=")
        if not sep:
            continue
        key, value = key.strip(), value.strip().rstrip(";").strip()
        if value.startswith("["):
            conf[key] = re.findall(r"""['"]([^'"]*)['"]""", value)
        elif value[:1] in "'\"":
            conf[key] = value[1:-1]
        elif re.fullmatch(r"-?\d+", value):
            conf[key] = int(value)
        else:
            conf[key] = value
    return conf


def boot_files(conf: dict[str, object]) -> list[str]:
    """The files in Dom0 a domain's config boots from: ``kernel``, ``ramdisk`` and each
    disk's target (``target=PATH`` or the legacy ``[phy:|file:]PATH,vdev,mode``); devices
    and paths it cannot read are left out."""
    paths = [v for k in ("kernel", "ramdisk") if isinstance(v := conf.get(k), str) and v]
    disks = conf.get("disk", [])
    for spec in disks if isinstance(disks, list) else []:
        fields = spec.split(",")
        target = next((f.partition("=")[2] for f in fields if f.startswith("target=")), None)
        if target is None and fields and "=" not in fields[0]:
            target = fields[0].split(":", 1)[-1]
        if target:
            paths.append(target)
    return [p for p in paths if p.startswith("/")]


DOMAIN_STATES = {"r": "running", "b": "blocked (idle)", "p": "paused", "s": "shut down",
                 "c": "crashed", "d": "dying"}


def state_words(state: str) -> str:
    """``--p---`` (xl list's State column) -> ``paused``."""
    words = [DOMAIN_STATES[c] for c in state if c in DOMAIN_STATES]
    return ", ".join(words) or "no state flag (waiting for a CPU)"


def _q(value: str) -> str:
    if "'" in value or '"' in value or "\n" in value or "\\" in value:
        raise ValueError(f"refusing to put {value!r} into an xl config")
    return f'"{value}"'


def render_config(items: dict[str, str | int | list[str]]) -> str:
    """Render an xl config; values were validated, and quotes are refused here again."""
    lines = [f"{MARKER}; removed when the suite restores the host"]
    for key, value in items.items():
        if isinstance(value, list):
            lines.append(f"{key} = [ " + ", ".join(_q(x).replace('"', "'") for x in value) + " ]")
        elif isinstance(value, int):
            lines.append(f"{key} = {value}")
        else:
            lines.append(f"{key} = {_q(value)}")
    return "\n".join(lines) + "\n"


class Xl:
    """``xl`` in Dom0."""

    def __init__(self, runner: Runner, command: str = "xl") -> None:
        self.runner = runner
        self.command = command

    def _xl(self, *args: str, timeout: float | None = None, mutates: bool = False,
            check: bool = False, once: bool = False) -> Result:
        return self.runner.run(self.command, *args, timeout=timeout, mutates=mutates,
                               check=check, once=once)

    def info(self) -> dict[str, str]:
        return parse_info(self._xl("info", check=True, once=True).stdout)

    def virt_caps(self) -> set[str]:
        return set(self.info().get("virt_caps", "").split())

    def domains(self) -> list[Domain]:
        return parse_list(self._xl("list", check=True, once=True).stdout)

    def domain(self, name: str) -> Domain | None:
        name = validate.domain_name(name)
        return next((d for d in self.domains() if d.name == name), None)

    def assignable(self) -> list[str]:
        return parse_bdfs(self._xl("pci-assignable-list", check=True, once=True).stdout)

    def pci_list(self, domain: str) -> list[str]:
        r = self._xl("pci-list", validate.domain_name(domain), once=True)
        return parse_bdfs(r.stdout) if r.ok else []

    def network_list(self, domain: str) -> list[Vif]:
        r = self._xl("network-list", validate.domain_name(domain), once=True)
        return parse_network_list(r.stdout) if r.ok else []

    def assignable_record(self, bdf: str) -> str | None:
        """The driver ``xl pci-assignable-add`` recorded for ``bdf`` (xenstore
        ``/libxl/pci/<bdf>/driver_path``); None when there is no record."""
        r = self.runner.run("xenstore-read", assignable_node(bdf), once=True)
        return r.stdout.strip() if r.ok else None

    def backends(self, backend_domid: int, kind: str = "vif") -> dict[tuple[int, int], Backend]:
        """The ``kind`` backends a domain serves, from Dom0's view of xenstore:
        {(frontend domid, devid): Backend}; empty when it serves none."""
        if kind not in ("vif", "pci", "vbd"):
            raise ValueError(f"not a backend kind: {kind!r}")
        r = self.runner.run("xenstore-ls", "-f",
                            f"/local/domain/{int(backend_domid)}/backend/{kind}", once=True)
        return parse_backends(r.stdout) if r.ok else {}

    def frontend_state(self, backend: Backend) -> int | None:
        """The xenbus state of the frontend a backend points to (None when absent)."""
        path = backend.nodes.get("frontend", "")
        if not re.fullmatch(r"/local/domain/\d+/device/[a-z]+/\d+", path):
            return None
        r = self.runner.run("xenstore-read", f"{path}/state", once=True)
        return int(r.stdout.strip()) if r.ok and r.stdout.strip().isdigit() else None

    def dmesg(self) -> str:
        return self._xl("dmesg").stdout

    # -- changes (refused in check mode) --
    def assignable_add(self, bdf: str) -> Result:
        return self._xl("pci-assignable-add", validate.bdf(bdf), mutates=True, check=True)

    def assignable_remove(self, bdf: str, rebind: bool = True) -> Result:
        args = ["pci-assignable-remove"] + (["-r"] if rebind else []) + [validate.bdf(bdf)]
        return self._xl(*args, mutates=True, check=True)

    def create(self, config_path: str, timeout: float = 180.0) -> Result:
        return self._xl("create", validate.abs_path(config_path, "config path"),
                        timeout=timeout, mutates=True, check=True)

    def network_detach(self, domain: str, devid: int, timeout: float = 60.0) -> Result:
        return self._xl("network-detach", validate.domain_name(domain), str(int(devid)),
                        timeout=timeout, mutates=True)

    def network_attach(self, domain: str, *, mac: str, bridge: str, backend: str,
                       timeout: float = 60.0) -> Result:
        spec = (f"mac={validate.mac(mac)},bridge={validate.ifname(bridge, 'bridge')},"
                f"backend={validate.domain_name(backend)}")
        return self._xl("network-attach", validate.domain_name(domain), *spec.split(","),
                        timeout=timeout, mutates=True, check=True)

    def destroy(self, domain: str, timeout: float = 120.0) -> Result:
        return self._xl("destroy", validate.domain_name(domain), timeout=timeout,
                        mutates=True)

    def console_tail(self, domain: str, lines: int = 40, seconds: int = 4) -> str:
        """What a domain's console holds (buffered by xenconsoled), read for ``seconds``
        without a terminal: for a failure message when the domain does not answer."""
        r = self.runner.run("sh", "-c", 'timeout "$2" xl console "$1" </dev/null | tail -n "$3"',
                            "sh", validate.domain_name(domain), str(int(seconds)),
                            str(int(lines)), timeout=seconds + 20)
        return r.stdout.replace("\r", "")
