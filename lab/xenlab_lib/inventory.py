"""The inventory the acceptance suite reads (YAML written by hand: stdlib only)."""
from __future__ import annotations

import json
import time
from pathlib import Path

from .qemu import BDF

DRVDOM_NAME = "drvdom"
DRVDOM_MEMORY = 1024
GUEST_MEMORY = 512
GUEST_COUNT = 2
MAC_PREFIX = "00:16:3e:5a:00"
GUEST_EXTRA = "console=hvc0 net.ifnames=0 xenlab.guestnet=1 break=mount"
DRVDOM_EXTRA = "root=/dev/xvda rw console=hvc0 net.ifnames=0"


def q(s: str) -> str:
    return json.dumps(str(s))  # a JSON string is a valid YAML double-quoted scalar


def render(name: str, ports: dict, key: Path, known_hosts: Path, kernel: str, ramdisk: str,
           boot: str, hide: bool, flavour: str) -> str:
    ssh_d = (f"{{host: {q('127.0.0.1')}, port: {ports['drvdom']}, user: {q('root')}, "
             f"key_file: {q(key)}, known_hosts: {q(known_hosts)}}}")
    return f"""# written by lab/xenlab up at {time.strftime('%Y-%m-%dT%H:%M:%S%z')}
targets:
  - name: {q('xenlab-' + name)}
    dom0:
      host: {q('127.0.0.1')}
      port: {ports['dom0']}
      user: {q('root')}
      key_file: {q(key)}
      known_hosts: {q(known_hosts)}
    driver_domain:
      name: {q(DRVDOM_NAME)}
      ssh: {ssh_d}
      memory: {DRVDOM_MEMORY}
      vcpus: 1
      disk: {q('phy:/dev/vdb,xvda,w')}
      kernel: {q(kernel)}
      ramdisk: {q(ramdisk)}
      extra: {q(DRVDOM_EXTRA)}
      nic: {q('eth0')}
    device:
      bdf: {q(BDF)}
      native_driver: {q('e1000')}
    bridge: {q('xenbr0')}
    guests:
      count: {GUEST_COUNT}
      memory: {GUEST_MEMORY}
      kernel: {q(kernel)}
      ramdisk: {q(ramdisk)}
      extra: {q(GUEST_EXTRA)}
      mac_prefix: {q(MAC_PREFIX)}
    lab:
      boot: {q(boot)}
      hide_at_boot: {'true' if hide else 'false'}
      flavour: {q(flavour)}
"""
