"""What xenstore says, as Dom0's ``xenstore-ls`` prints it: backends and their xenbus
states, and the record libxl keeps of a device it made assignable."""

from __future__ import annotations

import re
from dataclasses import dataclass

from xenaccept.errors import HarnessError
from xenaccept.model import validate
from xenaccept.transport.runner import Runner

CONNECTED = 4  # the xenbus state of a connected backend or frontend
XENBUS_STATES = {0: "Unknown", 1: "Initialising", 2: "InitWait", 3: "Initialised",
                 4: "Connected", 5: "Closing", 6: "Closed", 7: "Reconfiguring",
                 8: "Reconfigured"}


def xenbus_state(value: int | None) -> str:
    """``4`` -> ``4 (Connected)``: a state as a message shows it."""
    if value is None:
        return "absent"
    return f"{value} ({XENBUS_STATES.get(value, '?')})"


@dataclass(frozen=True)
class Backend:
    frontend_domid: int
    devid: int
    nodes: dict[str, str]          # the backend's own nodes: state, hotplug-status, ...

    @property
    def state(self) -> int | None:
        v = self.nodes.get("state", "")
        return int(v) if v.isdigit() else None


_XS_LINE = re.compile(r'^(/\S+) = "(.*)"$')


def parse_backends(text: str) -> dict[tuple[int, int], Backend]:
    """``xenstore-ls -f /local/domain/D/backend/KIND`` -> {(frontend domid, devid):
    Backend}, with the nodes directly under each backend's directory."""
    nodes: dict[tuple[int, int], dict[str, str]] = {}
    for line in text.splitlines():
        m = _XS_LINE.match(line.strip())
        if not m:
            continue
        parts = m.group(1).split("/")   # '', local, domain, D, backend, KIND, F, DEV, node
        if len(parts) == 9 and parts[6].isdigit() and parts[7].isdigit():
            nodes.setdefault((int(parts[6]), int(parts[7])), {})[parts[8]] = m.group(2)
    return {k: Backend(k[0], k[1], v) for k, v in nodes.items()}


def parse_tree(text: str, base: str) -> dict[str, str]:
    """``xenstore-ls -f BASE`` -> {path below BASE: value}."""
    prefix = base.rstrip("/") + "/"
    nodes: dict[str, str] = {}
    for line in text.splitlines():
        m = _XS_LINE.match(line.strip())
        if m and m.group(1).startswith(prefix):
            nodes[m.group(1)[len(prefix):]] = m.group(2)
    return nodes


def assignable_node(bdf: str) -> str:
    """Where libxl records the driver of a device it made assignable."""
    b = validate.bdf(bdf)
    return f"/libxl/pci/{b.replace(':', '-').replace('.', '-')}/driver_path"


# $1 the key, $2 its domain's directory, $3 seconds: the key's value once it is set (a
# watch wakes the loop at once; each watch lasts 1 s at most, so a write that lands between
# the read and the watch is seen a second later), exit 4 when the domain is gone, 3 at the
# deadline
_AWAIT = r"""k=$1 d=$2 end=$(($(date +%s) + $3))
until v=$(xenstore-read "$k" 2>/dev/null) && [ -n "$v" ]; do
    xenstore-exists "$d" || exit 4
    [ "$(date +%s)" -lt "$end" ] || exit 3
    timeout 1 xenstore-watch -n 2 "$k" >/dev/null 2>&1
    [ $? -ne 127 ] || sleep 1    # no xenstore-watch: a poll a second
done
printf '%s\n' "$v"
"""


class KeyTimeout(HarnessError):
    """A xenstore key was not set before the deadline."""


class DomainGone(HarnessError):
    """The domain whose key was awaited is no longer in xenstore."""


def read_key(runner: Runner, domid: int, key: str) -> str | None:
    """The value of ``key`` (relative to ``/local/domain/<domid>``) now; None when unset
    or empty (a read the run asks once)."""
    r = runner.run("xenstore-read", f"/local/domain/{int(domid)}/{key}", once=True)
    return (r.stdout.strip() or None) if r.ok else None


def await_key(runner: Runner, domid: int, key: str, timeout: int) -> str:
    """The value of ``key`` (relative to ``/local/domain/<domid>``) once the domain sets
    it, waited for on a watch in Dom0 (one command, however long the wait)."""
    d = f"/local/domain/{int(domid)}"
    r = runner.run("sh", "-c", _AWAIT, "sh", f"{d}/{key}", d, str(int(timeout)),
                   timeout=timeout + 30)
    if r.exit_status == 4:
        raise DomainGone(f"domain {domid} is gone from xenstore ({d})")
    if r.exit_status == 3:
        raise KeyTimeout(f"{d}/{key} not set")
    if not r.ok or not r.stdout.strip():
        raise HarnessError(f"reading {d}/{key} in Dom0 failed: {r.stderr.strip()[-300:]}")
    return r.stdout.strip()
