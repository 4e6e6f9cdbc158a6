"""The inventory the acceptance suite reads (YAML written by hand: stdlib only).

Minimal, as an operator's first inventory is: Dom0 (how to reach it), the device, and the
address at which the driver domain will answer (the port QEMU forwards to the LAN of the
passed-through NIC). ``lan.forwards`` says the same as a fact of the network (this machine
reaches the LAN's 10.0.2.15:22 at that port): an inventory without ``driver_domain.ssh``
reaches the driver domain at the address it says in xenstore, through that forward.
Everything else is the suite's default or read from the host."""
from __future__ import annotations

import json
import time
from pathlib import Path

from .qemu import BDF, DRVDOM_LAN, LAN_PEER

DRVDOM_NAME = "drvdom"   # the suite's default name of the driver domain


def q(s: str) -> str:
    return json.dumps(str(s))  # a JSON string is a valid YAML double-quoted scalar


def render(name: str, ports: dict, key: Path, known_hosts: Path, boot: str,
           flavour: str, console_log: Path) -> str:
    return f"""# written by lab/xenlab up at {time.strftime('%Y-%m-%dT%H:%M:%S%z')}
targets:
  - name: {q('xenlab-' + name)}
    dom0:
      host: {q('127.0.0.1')}
      port: {ports['dom0']}
      key_file: {q(key)}
      known_hosts: {q(known_hosts)}
    device: {q(BDF)}
    console_log: {q(console_log)}
    driver_domain:
      ssh: {{host: {q('127.0.0.1')}, port: {ports['drvdom']}}}
    lan:
      peer: {q(f'{LAN_PEER[0]}:{LAN_PEER[1]}')}
      listen: {q(f"127.0.0.1:{ports['lan']}")}
      forwards: {{{q(f'{DRVDOM_LAN[0]}:{DRVDOM_LAN[1]}')}: {q(f"127.0.0.1:{ports['drvdom']}")}}}
    lab:
      boot: {q(boot)}
      flavour: {q(flavour)}
"""
