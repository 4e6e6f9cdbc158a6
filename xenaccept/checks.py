"""The checkpoints, as functions of a :class:`~xenaccept.provision.Setup`.

Each one reads the hosts and raises :class:`CheckFailed` naming what was expected and what
was found. None of them changes anything: they run the same in check and provision mode.
"""

from __future__ import annotations

from . import pci, validate, wait
from .bridge import Bridge
from .errors import CheckFailed
from .kernel import hidden_bdfs
from .provision import Setup, persist
from .xl import assignable_node, parse_config

BUILT = {"y": "built in", "m": "a module"}


def kernel_option(setup: Setup, where: str, option: str) -> str:
    host = setup.dom0 if where == "dom0" else setup.drvdom
    value = host.kernel.config(option)[option]
    if value not in BUILT:
        raise CheckFailed(f"{host.name} kernel {host.kernel.release}",
                          f"CONFIG_{option}=y or =m", f"CONFIG_{option}={value or 'unset'}")
    return BUILT[value]


def module_available(setup: Setup, where: str, module: str) -> None:
    host = setup.dom0 if where == "dom0" else setup.drvdom
    if not host.kernel.module_available(module):
        raise CheckFailed(f"{host.name}", f"modinfo to find {module}",
                          f"no module {module} for kernel {host.kernel.release}")


# -- 2. the device hidden from Dom0 ---------------------------------------------------
def hidden_how(setup: Setup) -> str:
    """'boot' when xen-pciback.hide names the device, 'xl' when pci-assignable-add did."""
    bdf = setup.bdf
    if bdf in hidden_bdfs(setup.dom0.kernel.cmdline):
        return "boot"
    if setup.dom0.xl.assignable_record(bdf) is not None:
        return "xl"
    raise CheckFailed(f"device {bdf}",
                      "xen-pciback.hide=(...) naming it on /proc/cmdline, or an "
                      f"xl pci-assignable-add record in xenstore ({assignable_node(bdf)})",
                      "neither")


def bound_to_pciback(setup: Setup) -> None:
    driver = setup.dom0.pci(setup.bdf).driver
    if driver != "pciback":
        raise CheckFailed(f"/sys/bus/pci/devices/{setup.bdf}/driver", "pciback",
                          driver or "no driver bound")


def in_pciback_slots(setup: Setup) -> None:
    slots = pci.pciback_slots(setup.dom0.runner)
    if setup.bdf not in slots:
        raise CheckFailed("/sys/bus/pci/drivers/pciback/slots", f"{setup.bdf} listed",
                          ", ".join(slots) or "empty")


def no_native_driver(setup: Setup) -> None:
    dev = setup.dom0.pci(setup.bdf).lspci()
    if dev is None:
        raise CheckFailed("lspci in Dom0", f"device {setup.bdf}", "no such device")
    native = setup.target.device.native_driver
    if dev.driver not in (None, "pciback"):
        raise CheckFailed(f"device {setup.bdf} in Dom0", "no native driver",
                          f"{dev.driver} bound")
    ifaces = pci.net_interfaces(setup.dom0.runner, setup.bdf)
    if ifaces:
        raise CheckFailed(f"device {setup.bdf} in Dom0", "no network interface",
                          f"{', '.join(ifaces)} (held by {native}?)")


def offered_for_passthrough(setup: Setup) -> str:
    bdf, dd = setup.bdf, setup.target.driver_domain.name
    assignable = setup.dom0.xl.assignable()
    if bdf in assignable:
        return "assignable"
    if bdf in setup.dom0.xl.pci_list(dd):
        return f"attached to {dd}"
    raise CheckFailed(f"device {bdf}",
                      f"listed by xl pci-assignable-list, or by xl pci-list {dd}",
                      f"assignable: {', '.join(assignable) or 'none'}; not attached to {dd}")


# -- 3. the driver domain ---------------------------------------------------------------
def driver_domain_config(setup: Setup) -> dict[str, object]:
    path = setup.target.config_path(setup.target.driver_domain.name)
    text = setup.dom0.read(path)
    if text is None:
        raise CheckFailed("driver domain config", f"{path} in Dom0", "no such file")
    return parse_config(text)


def config_passes_device(setup: Setup) -> None:
    conf = driver_domain_config(setup)
    listed = conf.get("pci", [])
    bdfs = [validate.bdf(x.split(",")[0].split("@")[0], "pci")
            for x in listed] if isinstance(listed, list) else []
    if setup.bdf not in bdfs:
        raise CheckFailed("driver domain config", f"pci = [ '{setup.bdf}' ]",
                          f"pci = {listed!r}" if listed else "no pci setting")


def config_is_driver_domain(setup: Setup) -> None:
    value = driver_domain_config(setup).get("driver_domain")
    if value not in (1, "1"):
        raise CheckFailed("driver domain config", "driver_domain = 1",
                          f"driver_domain = {value}" if value is not None else "not set")


def device_attached(setup: Setup) -> None:
    dd = setup.target.driver_domain.name
    if setup.dom0.xl.domain(dd) is None:
        raise CheckFailed("xl list", f"domain {dd} running", "no such domain")
    attached = setup.dom0.xl.pci_list(dd)
    if setup.bdf not in attached:
        raise CheckFailed(f"xl pci-list {dd}", setup.bdf, ", ".join(attached) or "no device")


def same_kernel(setup: Setup) -> str:
    a, b = setup.dom0.kernel.release, setup.drvdom.kernel.release
    if a != b:
        raise CheckFailed("uname -r", f"the driver domain on Dom0's kernel {a}", b)
    return a


def device_in_driver_domain(setup: Setup) -> pci.LspciDevice:
    vd = setup.dom0.pci(setup.bdf).vendor_device
    found = pci.find_by_id(setup.drvdom.runner, vd)
    if len(found) != 1:
        seen = ", ".join(f"{d.slot} [{d.vendor_device}]" for d in pci.lspci(setup.drvdom.runner))
        raise CheckFailed("lspci in the driver domain", f"one device [{vd}]", seen or "no device")
    return found[0]


def native_driver_bound(setup: Setup) -> None:
    dev = device_in_driver_domain(setup)
    want = setup.target.device.native_driver
    if dev.driver != want:
        raise CheckFailed(f"device {dev.slot} in the driver domain", f"driver {want}",
                          dev.driver or "no driver")


def device_netdev(setup: Setup) -> str:
    dev = device_in_driver_domain(setup)
    ifaces = pci.net_interfaces(setup.drvdom.runner, dev.slot)
    if len(ifaces) != 1:
        raise CheckFailed(f"device {dev.slot} in the driver domain", "one network interface",
                          ", ".join(ifaces) or "none")
    return ifaces[0]


# -- 4. hotplug -------------------------------------------------------------------------
def hotplug_scripts(setup: Setup, script: str) -> list[str]:
    """``script`` present and executable (the toolstack runs it); every helper it sources,
    transitively, present (they are sourced, so Debian ships them mode 644)."""
    hp = setup.drvdom.hotplug
    main, *helpers = hp.states(hp.closure(script))
    bad = [] if main.executable else [
        f"{main.path} ({'not executable' if main.present else 'missing'})"]
    bad += [f"{h.path} (missing)" for h in helpers if not h.present]
    if bad:
        raise CheckFailed("hotplug scripts",
                          f"{script} executable and the helpers it sources present",
                          "; ".join(bad))
    return [s.path for s in (main, *helpers)]


def one_devd(setup: Setup) -> int:
    pids = setup.drvdom.hotplug.devd_pids()
    if len(pids) != 1:
        raise CheckFailed("processes in the driver domain", "exactly one `xl devd`",
                          f"{len(pids)}" + (f" (pids {pids})" if pids else ""))
    return pids[0]


# -- 5. the bridge ----------------------------------------------------------------------
def bridge_up(setup: Setup) -> None:
    br = setup.drvdom.bridge(setup.target.bridge)
    if not br.exists:
        raise CheckFailed(f"bridge {br.name}", "present in the driver domain", "absent")
    if not br.is_up:
        raise CheckFailed(f"bridge {br.name}", "operstate up", br.operstate)


def enslaved(setup: Setup, iface: str) -> None:
    br = setup.drvdom.bridge(setup.target.bridge)
    ports = br.ports()
    if iface not in ports:
        raise CheckFailed(f"ports of {br.name} (sysfs brif)", iface, ", ".join(ports) or "none")


def forwarding(setup: Setup, iface: str) -> None:
    br = setup.drvdom.bridge(setup.target.bridge)
    state = br.port_states().get(iface)
    if state != "forwarding":
        raise CheckFailed(f"`bridge -j link` port {iface} of {br.name}", "state forwarding",
                          state or "not a port")


# -- 6, 7. guests -------------------------------------------------------------------------
def served_vif(setup: Setup, guest: str) -> tuple[str, str]:
    """``(vif<domid>.<devid>, MAC)`` of the guest's vif that the driver domain serves."""
    dd = setup.dom0.xl.domain(setup.target.driver_domain.name)
    dom = setup.dom0.xl.domain(guest)
    if dom is None or dd is None:
        raise CheckFailed("xl list", f"{guest} and the driver domain running",
                          f"{guest}: {'running' if dom else 'absent'}, "
                          f"driver domain: {'running' if dd else 'absent'}")
    vifs = setup.dom0.xl.network_list(guest)
    served = [v for v in vifs if v.backend_domid == dd.domid]
    if not served:
        raise CheckFailed(f"xl network-list {guest}", f"a vif with backend domid {dd.domid}",
                          ", ".join(f"vif {v.devid} on domid {v.backend_domid}" for v in vifs)
                          or "no vif")
    return f"vif{dom.domid}.{served[0].devid}", served[0].mac


def guest_vif(setup: Setup, guest: str) -> str:
    return served_vif(setup, guest)[0]


def _learned_on(br: Bridge, guest: str, vif: str, mac: str) -> str:
    ports = br.learned(mac)
    if vif not in ports:
        raise CheckFailed(f"`bridge fdb` of {br.name}", f"{guest}'s MAC {mac} learned on {vif}",
                          f"learned on {', '.join(ports)}" if ports else "not learned")
    return vif


def mac_learned(setup: Setup, guest: str) -> str:
    return _learned_on(setup.drvdom.bridge(setup.target.bridge), guest,
                       *served_vif(setup, guest))


def mac_learned_within(setup: Setup, guest: str, timeout: float) -> str:
    """:func:`mac_learned`, polled: a guest is given ``timeout`` seconds to send a frame.
    The vif and MAC are read once; each poll reads only the bridge's fdb."""
    last: list[CheckFailed] = []
    vif, mac = served_vif(setup, guest)
    br = setup.drvdom.bridge(setup.target.bridge)

    def probe() -> str | None:
        try:
            return _learned_on(br, guest, vif, mac)
        except CheckFailed as e:
            last[:] = [e]
            return None

    try:
        return wait.until(probe, timeout=timeout, what=f"{guest}'s MAC learned by the bridge")
    except wait.WaitTimeout:
        if last:
            e = last[0]
            raise CheckFailed(e.what, e.expected + f" within {timeout:g} s", e.found) from None
        raise


def dom0_toolstack_works(setup: Setup) -> None:
    """Dom0 answers, xl answers, and Dom0 itself is running."""
    domains = {d.name: d for d in setup.dom0.xl.domains()}
    if "Domain-0" not in domains:
        raise CheckFailed("xl list in Dom0", "Domain-0 listed", ", ".join(domains) or "nothing")
    if not setup.dom0.xl.info().get("xen_version"):
        raise CheckFailed("xl info in Dom0", "a xen_version", "none")


def guest_answers_ping(setup: Setup, guest: str) -> None:
    """The driver domain pings the guest across the bridge, at the IPv6 link-local address
    the guest's kernel derives from its MAC (EUI-64): replies prove traffic both ways
    without any address on the LAN."""
    from .guest_payload import guest_link_local
    vif, mac = served_vif(setup, guest)
    br = setup.drvdom.bridge(setup.target.bridge)
    addr = guest_link_local(mac)
    if not br.pings(addr):
        raise CheckFailed(f"ping -6 {addr}%{br.name} from the driver domain",
                          f"{guest} ({mac}, on {vif}) to answer",
                          f"no reply in 10 s; ports {br.port_states()}")


# -- 9. the setup comes back after the host reboots ------------------------------------
def persistent_setup_present(setup: Setup) -> bool:
    """Whether Dom0 holds a permanent setup (the autostart unit enabled)."""
    return setup.dom0.runner.run("systemctl", "is-enabled", "--quiet", persist.UNIT).ok


def booted_after_persist(setup: Setup) -> None:
    """Provision mode: the boot Dom0 runs began after the setup was made permanent (its
    boot id changed across the suite's reboot). Check mode: the autostart unit ran in the
    boot Dom0 runs now."""
    if setup.boot_ids is not None:
        before, after = setup.boot_ids
        now = setup.boot_id()
        if before == now or after != now:
            raise CheckFailed("/proc/sys/kernel/random/boot_id",
                              f"a new boot after the suite's reboot ({after})",
                              f"{now} (before the reboot: {before})")
        return
    r = setup.dom0.runner.run("systemctl", "is-active", persist.UNIT)
    if r.stdout.strip() != "active":
        raise CheckFailed(f"{persist.UNIT} in Dom0", "active (run in this boot)",
                          r.stdout.strip() or r.stderr.strip())


def hidden_at_boot(setup: Setup) -> None:
    bdf = setup.bdf
    cmdline = setup.dom0.kernel.cmdline
    if bdf not in hidden_bdfs(cmdline):
        raise CheckFailed("Dom0's /proc/cmdline", f"xen-pciback.hide=({bdf})", cmdline)
    record = setup.dom0.xl.assignable_record(bdf)
    if record is not None:
        raise CheckFailed(assignable_node(bdf), "no record (hidden at boot, not by xl)",
                          f"xl pci-assignable-add's record {record!r}")
    bound_to_pciback(setup)


def started_at_boot(setup: Setup) -> None:
    r = setup.dom0.runner.run("systemctl", "show", "-p", "UnitFileState,ActiveState",
                              persist.UNIT)
    props = dict(line.partition("=")[::2] for line in r.stdout.splitlines())
    if props.get("UnitFileState") != "enabled" or props.get("ActiveState") != "active":
        raise CheckFailed(f"{persist.UNIT} in Dom0", "enabled and active",
                          f"{props.get('UnitFileState', '?')} and "
                          f"{props.get('ActiveState', '?')}")
    t = setup.target
    missing = [n for n in (t.driver_domain.name, *t.guests.names)
               if setup.dom0.xl.domain(n) is None]
    if missing:
        raise CheckFailed("xl list in Dom0", "the driver domain and every guest running",
                          f"not running: {', '.join(missing)}")


def driver_domain_own_config(setup: Setup) -> None:
    """xl devd and the bridge were brought up by the driver domain's own units (not by the
    suite over SSH), and it told Dom0 so (its readiness flag in xenstore)."""
    r = setup.drvdom.runner.run("systemctl", "is-active", "xenaccept-devd.service",
                                "xenaccept-ready.service", "systemd-networkd.service")
    states = r.stdout.split()
    if states != ["active"] * 3:
        raise CheckFailed(f"units in {setup.drvdom.name}",
                          "xenaccept-devd, xenaccept-ready, systemd-networkd active",
                          " ".join(states) or r.stderr.strip())
    dom = setup.dom0.xl.domain(setup.target.driver_domain.name)
    key = f"/local/domain/{dom.domid if dom else '?'}/{persist.READY_KEY}"
    flag = setup.dom0.runner.run("xenstore-read", key)
    if flag.stdout.strip() != "1":
        raise CheckFailed(f"xenstore {key}", "1 (the driver domain is ready)",
                          flag.stdout.strip() or flag.stderr.strip() or "absent")
    enslaved(setup, setup.target.driver_domain.nic)
