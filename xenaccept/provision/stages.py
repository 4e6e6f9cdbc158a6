"""The stages of the setup, each a small unit that builds itself and pushes its own undo.

A stage gets the run's :class:`~xenaccept.provision.context.StageContext` (hosts, target,
journal, log) and changes the hosts only through it. Order: :class:`Stage`; the last one,
the setup made permanent, is :func:`xenaccept.provision.lifecycle.persistent`.
"""

from __future__ import annotations

import enum
import secrets

from xenaccept.images import guest_payload
from xenaccept.images.drvdom_image import DriverDomainImage, Personal
from xenaccept.errors import CheckFailed, HarnessError
from xenaccept.model import state
from xenaccept.names import DEVD_UNIT_PERSISTENT, DEVD_UNIT_RUNTIME, GUEST_PAYLOAD_DIR, MARKER, PCIBACK_LOADED
from xenaccept.provision.context import StageContext
from xenaccept.provision.persist.apply import write_boot_hide
from xenaccept.resources.bridge import Bridge
from xenaccept.resources.xl import render_config
from xenaccept.transport.ssh import SSHRunner


class Stage(enum.IntEnum):
    """The setup, in the order it is built."""

    DEVICE_HIDDEN = 1
    DRIVER_DOMAIN = 2
    BACKEND_DAEMON = 3
    BRIDGE = 4
    GUESTS = 5
    PERSISTED = 6   # --persist only: made permanent, and the host rebooted into it


def until_forwarding(s: StageContext, br: Bridge, port: str, *, timeout: float,
                     what: str) -> None:
    """Wait for ``port`` to forward on ``br``, one `bridge -j link` a poll. Enslaved is not
    enough: a port forwards once its link is up (the bridge up; for a guest's vif, once
    its netfront has connected, about 10 s after enslavement on Linux 6.12)."""
    s.until(lambda: br.port_states().get(port) == "forwarding", timeout=timeout,
            what=f"{what} and forwarding", last_seen=lambda: f"ports {br.port_states()}")


def hide_device(s: StageContext) -> None:
    """The device on pciback: ``xl pci-assignable-add`` (xen-pciback loaded first when the
    host has not loaded it: Debian loads it only on demand)."""
    dev = s.dom0.pci(s.bdf)
    if not dev.exists:
        raise CheckFailed("device", f"PCI device {s.bdf} in Dom0", "no such device")
    if dev.driver == "pciback":
        s.log(f"{s.bdf} already on pciback (hidden at boot or before): left as found")
        if s.persist:
            write_boot_hide(s, s.record)
        return
    if not s.dom0.file_exists("/sys/bus/pci/drivers/pciback"):
        # a note in the work dir tells a later `teardown` of a kept setup to unload it
        s.work_dir()
        s.dom0.runner.run("sh", "-c", 'modprobe xen-pciback && touch "$1"', "sh",
                          PCIBACK_LOADED, mutates=True, check=True)
        s.journal.push("unload xen-pciback", lambda: s.dom0.runner.run(
            "sh", "-c", 'modprobe -r xen-pciback && rm -f "$1"', "sh", PCIBACK_LOADED,
            mutates=True, check=True), running_only=True)
    s.dom0.xl.assignable_add(s.bdf)
    s.journal.push(f"give {s.bdf} back to {s.device_found_driver or 'no driver'}",
                   lambda: s.dom0.xl.assignable_remove(s.bdf, rebind=True), running_only=True)
    if s.persist:  # hidden at boot too from the next boot on
        write_boot_hide(s, s.record)


def write_config(s: StageContext, domain: str, items: dict[str, str | int | list[str]]) -> str:
    path = s.target.config_path(domain)
    old = s.dom0.read(path)
    if old is not None and MARKER not in old:
        raise HarnessError(f"{path} exists in Dom0 and was not written by this suite: "
                           "refusing to overwrite it (move it away, or run in check mode)")
    s.dom0.runner.write_file(path, render_config(items))
    s.journal.push(f"remove {path}",
                   lambda: s.dom0.runner.run("rm", "-f", path, mutates=True, check=True))
    return path


def create(s: StageContext, domain: str, path: str) -> None:
    if s.dom0.xl.domain(domain) is not None:
        raise HarnessError(f"a domain named {domain} already runs and this run did not start "
                           "it: destroy it first, or check it with check mode")
    s.journal.push(f"destroy {domain}", lambda: s.destroy(domain))
    s.dom0.xl.create(path)
    s.started.append(domain)


def driver_domain_disk(s: StageContext) -> tuple[str, str]:
    """The xl disk and ramdisk of the driver domain: the operator's (Dom0's initrd unless
    the inventory names one), or an image the suite builds in Dom0 from Dom0's own system,
    with a client key made for this run and a host key generated for the domain and pinned
    here, and an initramfs of its own that mounts it."""
    dd = s.target.driver_domain
    if dd.disk is not None:
        return dd.disk, dd.ramdisk or ""
    keys = state.keys_for(s.target.name)
    client = keys.new_client_key()
    s.log(f"{dd.name}: client key for this run {keys.key_file}")
    s.work_dir()
    image = DriverDomainImage(s.dom0.runner, dd.name, log=s.log)
    s.journal.push(f"remove the driver domain's image {image.dir}", image.remove)
    native = s.target.device.native_driver
    if native is None:  # hostdefaults.resolve fills it in before anything runs
        raise HarnessError("the device's native driver is not known")
    built = image.build(Personal(dd.name, native,
                                 dd.address, dd.gateway, (client, *dd.authorized_keys),
                                 secrets.token_hex(16)))
    assert dd.ssh is not None
    keys.pin(dd.ssh.host, dd.ssh.port, built.host_key)
    s.log(f"{dd.name}: host key pinned in {keys.known_hosts} ({built.host_key.split()[0]})")
    if isinstance(s.drvdom.runner, SSHRunner):  # reached with them from now on
        s.drvdom.runner.retarget(keys.spec(s.drvdom.runner.spec))
    ramdisk = image.boot_initramfs(s.dom0.kernel.release, native,
                                   s.target.config_path(dd.name))
    return f"format=raw,vdev=xvda,access=rw,target={built.path}", ramdisk


def driver_domain(s: StageContext) -> None:
    dd = s.target.driver_domain
    disk, ramdisk = driver_domain_disk(s)
    path = write_config(s, dd.name, {
        "name": dd.name, "type": "pv", "kernel": dd.kernel or "", "ramdisk": ramdisk,
        "extra": dd.extra, "memory": dd.memory, "vcpus": dd.vcpus, "disk": [disk],
        "pci": [s.bdf], "driver_domain": 1,
    })
    create(s, dd.name, path)
    s.wait_driver_domain()


def backend_daemon(s: StageContext) -> None:
    hp = s.drvdom.hotplug
    if s.persisted:  # the driver domain starts it by itself, from its own config
        s.until(hp.devd_pids, timeout=120, what="xl devd to run in the driver domain "
                f"({DEVD_UNIT_PERSISTENT}, its own boot config)")
        return
    if hp.devd_pids():
        s.log("xl devd already runs in the driver domain: left as found")
        return
    xl = hp.xl_path()
    if xl is None:
        raise CheckFailed("backend daemon", "xl installed in the driver domain", "no xl")
    unit = DEVD_UNIT_RUNTIME
    s.drvdom.runner.run("systemd-run", "--quiet", "--collect", f"--unit={unit}", xl, "devd",
                        "-F", mutates=True, check=True)
    s.journal.push(f"stop xl devd ({unit}) in {s.target.driver_domain.name}",
                   lambda: s.unless_started(lambda: s.drvdom.runner.run(
                       "systemctl", "stop", unit, mutates=True)), running_only=True)
    s.until(hp.devd_pids, timeout=30, what="xl devd to run in the driver domain")


def bridge(s: StageContext) -> None:
    br = s.drvdom.bridge(s.target.bridge)
    nic = s.target.driver_domain.nic
    if s.persisted:  # systemd-networkd in the driver domain makes it at boot
        until_forwarding(s, br, nic, timeout=120, what=f"{nic} enslaved to {br.name} by the "
                         "driver domain's own systemd-networkd config")
        return
    if br.exists:
        s.log(f"bridge {br.name} already exists: left as found")
        return
    br.create_with(nic)
    s.journal.push(f"remove bridge {br.name} in {s.target.driver_domain.name}",
                   lambda: s.unless_started(lambda: br.remove(nic)), running_only=True)
    until_forwarding(s, br, nic, timeout=60, what=f"{nic} enslaved to {br.name}")


def guest_items(s: StageContext, index: int, name: str) -> dict[str, str | int | list[str]]:
    """The xl config of guest ``index``: the suite's payload, or the operator's own
    kernel, ramdisk and arguments."""
    t, g = s.target, s.target.guests
    if g.built:
        ramdisk = s.payload or ""
        extra = guest_payload.extra(s.bridge_link_local(),
                                    guest_payload.lan_arg(t.lan, name))
    else:
        ramdisk, extra = g.ramdisk or "", g.extra or ""
    return {"name": name, "type": "pv", "kernel": g.kernel or "", "ramdisk": ramdisk,
            "extra": extra, "memory": g.memory, "vcpus": 1,
            "vif": [f"mac={g.mac(index)},bridge={t.bridge},backend={t.driver_domain.name}"]}


def guests(s: StageContext) -> None:
    t = s.target
    if t.guests.built and s.payload is None:
        s.work_dir()
        s.journal.push(f"remove the guests' ramdisk {GUEST_PAYLOAD_DIR}",
                       lambda: s.dom0.runner.run("rm", "-rf", GUEST_PAYLOAD_DIR,
                                                 mutates=True, check=True))
        s.payload = guest_payload.build(s.dom0.runner, s.dom0.kernel.release, t.lan,
                                        log=s.log)
    for i, name in enumerate(t.guests.names):
        create(s, name, write_config(s, name, guest_items(s, i, name)))
    br = s.drvdom.bridge(t.bridge)
    for name in t.guests.names:
        vif = s.vif_name(name)
        until_forwarding(s, br, vif or "?", timeout=180,
                         what=f"{vif} of {name} enslaved to {br.name}")
