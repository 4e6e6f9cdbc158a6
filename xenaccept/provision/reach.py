"""Where the suite reaches a driver domain it built that the inventory gives no address for
(``driver_domain.ssh`` without a host): at the address the domain says in its xenstore
(``data/xenaccept/ssh-address``, written once its SSH server listens), read from Dom0,
through ``lan.forwards`` when this machine reaches the LAN through a port forward. The host
key pinned when the suite built the domain is pinned at that address."""

from __future__ import annotations

import dataclasses
import ipaddress

from xenaccept.errors import HarnessError
from xenaccept.model import state
from xenaccept.model.ssh import SSHSpec
from xenaccept.model.target import Target
from xenaccept.names import ADDRESS_KEY
from xenaccept.resources.xenstore import read_key
from xenaccept.transport.runner import Runner
from xenaccept.transport.ssh import SSHRunner


def place(drvdom: SSHRunner, target: Target, dom0: Runner, domid: int) -> str | None:
    """Point ``drvdom`` at the address the running domain ``domid`` says it answers at;
    returns that address (None: it has said none yet, and ``drvdom`` is left as it was)."""
    address = read_key(dom0, domid, ADDRESS_KEY)
    if address is not None:
        drvdom.retarget(spec_at(target, address))
    return address


def spec_at(target: Target, address: str) -> SSHSpec:
    """How to reach the driver domain at ``address`` on the LAN (its pinned host key and
    the run's client key, when this machine keeps them)."""
    dd = target.driver_domain
    assert dd.ssh is not None
    try:  # the domain wrote it: an address, never a name or an option
        address = str(ipaddress.ip_address(address))
    except ValueError:
        raise HarnessError(f"{dd.name} said in xenstore ({ADDRESS_KEY}) that it answers at "
                           f"{address[:80]!r}, which is not an IP address") from None
    host, port = target.lan.reached_at(address, dd.ssh.port or 22)
    keys = state.keys_for(target.name)
    base = dataclasses.replace(dd.ssh, host=host, port=port)
    if not keys.present:
        return base
    keys.place(host, port)
    return keys.spec(base)
