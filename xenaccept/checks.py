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
from .xl import Backend, assignable_node, boot_files, parse_config, state_words, xenbus_state

CONNECTED = 4           # xenbus state of a connected backend or frontend
FRESH = 5               # seconds: a guest's MAC counts as learned when a frame refreshed it
                        # this recently (the suite's guests send one a second)

BUILT = {"y": "built in", "m": "a module"}


def kernel_option(setup: Setup, where: str, option: str) -> str:
    host = setup.dom0 if where == "dom0" else setup.drvdom
    value = host.kernel.config(option)[option]
    if value not in BUILT:
        raise CheckFailed(f"{host.name} kernel {host.kernel.release}",
                          f"CONFIG_{option}=y or =m", f"CONFIG_{option}={value or 'unset'}")
    return BUILT[value]


def module_available(setup: Setup, where: str, module: str) -> None:
    """modinfo finds the module (a file, or built in), and no modprobe rule keeps it from
    loading: a ``blacklist`` (udev loads drivers by alias) or an ``install`` command that
    does not load it. Such a rule does not unload a module loaded already: it breaks the
    next boot, which is why it is named even when the module is loaded now."""
    host = setup.dom0 if where == "dom0" else setup.drvdom
    if not host.kernel.module_available(module):
        raise CheckFailed(f"{host.name}", f"modinfo to find {module}",
                          f"no module {module} for kernel {host.kernel.release}")
    blocked = host.kernel.module_blocked(module)
    if blocked:
        loaded = host.kernel.module_loaded(module)
        raise CheckFailed(f"modprobe's configuration in {host.name}",
                          f"no rule keeping {module} from loading",
                          "; ".join(f"`{r}`" for r in blocked) + (
                              f" ({module} is loaded now: it would not load at the next "
                              "boot)" if loaded else f" ({module} is not loaded)"))


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
    text = setup.dom0.read(path, once=True)
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


def config_boot_files(setup: Setup) -> None:
    """The kernel, ramdisk and disks the driver domain's config names exist in Dom0: the
    domain runs now, but would not start again without them (after an upgrade removed an
    old kernel, say)."""
    missing = setup.dom0.missing(*boot_files(driver_domain_config(setup)))
    if missing:
        raise CheckFailed("the files the driver domain's config boots from",
                          "all present in Dom0", "missing: " + ", ".join(missing))


def pci_backend_connected(setup: Setup) -> None:
    """Dom0's PCI backend for the driver domain, and the driver domain's pcifront, are
    Connected in xenstore (pcifront attached the device on its virtual bus)."""
    dd = setup.dom0.xl.domain(setup.target.driver_domain.name)
    if dd is None:
        raise CheckFailed("xl list", "the driver domain running", "no such domain")
    backends = setup.dom0.xl.backends(0, "pci")
    be = next((b for b in backends.values() if b.frontend_domid == dd.domid), None)
    if be is None:
        raise CheckFailed(f"xenstore /local/domain/0/backend/pci/{dd.domid}",
                          "Dom0's PCI backend for the driver domain", "none")
    if be.state != CONNECTED:
        raise CheckFailed(f"Dom0's PCI backend of {setup.target.driver_domain.name}",
                          f"state {xenbus_state(CONNECTED)}",
                          f"state {xenbus_state(be.state)}, its pcifront "
                          f"{xenbus_state(setup.dom0.xl.frontend_state(be))}")


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
        raise CheckFailed("lspci in the driver domain", f"one device [{vd}]",
                          (seen or "no device") + "; " + _pcifront_said(setup))
    return found[0]


def _pcifront_said(setup: Setup) -> str:
    """Where the device got lost between Dom0 and the driver domain, for a message."""
    dd = setup.dom0.xl.domain(setup.target.driver_domain.name)
    attached = setup.dom0.xl.pci_list(setup.target.driver_domain.name)
    be = next((b for b in setup.dom0.xl.backends(0, "pci").values()
               if dd is not None and b.frontend_domid == dd.domid), None)
    return (f"xl pci-list: {', '.join(attached) or 'nothing attached'}; Dom0's PCI backend "
            + (f"state {xenbus_state(be.state)}" if be else "absent"))


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


def hotplug_scripts_parse(setup: Setup, script: str) -> None:
    """bash parses ``script`` and every helper it sources (``bash -n``: nothing runs). A
    script with a syntax error is there and executable, yet plugs no vif: the toolstack
    waits for its hotplug-status, which never comes."""
    hp = setup.drvdom.hotplug
    names = [st.path.rsplit("/", 1)[1] for st in hp.states(hp.closure(script)) if st.present]
    errors = hp.syntax_errors(names)
    if errors:
        raise CheckFailed(f"bash -n on {script} and its helpers",
                          "no syntax error",
                          "; ".join(f"{hp.dir}/{n}: {e or 'refused'}"
                                    for n, e in errors.items()))


def one_devd(setup: Setup) -> int:
    pids = setup.drvdom.hotplug.devd_pids()
    if len(pids) != 1:
        raise CheckFailed("processes in the driver domain", "exactly one `xl devd`",
                          f"{len(pids)}" + (f" (pids {pids})" if pids else ""))
    return pids[0]


STOPPED = {"T": "stopped (by a signal: it handles no event until SIGCONT)",
           "t": "stopped by a debugger", "Z": "a zombie (exited, not reaped)",
           "X": "dead"}


def devd_alive(setup: Setup) -> None:
    """The one xl devd is not stopped, traced or dead: a stopped daemon is still listed
    by ps, but plugs nothing."""
    pid = one_devd(setup)
    stat = setup.drvdom.hotplug.process_states().get(pid, "")
    if not stat or stat[0] in STOPPED:
        raise CheckFailed(f"xl devd (pid {pid}) in the driver domain",
                          "running or sleeping (ps state R or S)",
                          f"state {stat or 'gone'}: "
                          f"{STOPPED.get(stat[:1], 'no longer there') if stat else 'gone'}")


# -- 5. the bridge ----------------------------------------------------------------------
def bridge_up(setup: Setup) -> None:
    br = setup.drvdom.bridge(setup.target.bridge)
    if not br.exists:
        raise CheckFailed(f"bridge {br.name}", "present in the driver domain", "absent")
    if not br.is_up:
        raise CheckFailed(f"bridge {br.name}", "operstate up", br.operstate)


def enslaved(setup: Setup, iface: str) -> None:
    """``iface`` is a port of the bridge (sysfs brif, exact names); if not, the message says
    where it is: a port of another bridge, of none, or no interface at all."""
    br = setup.drvdom.bridge(setup.target.bridge)
    ports = br.ports()
    if iface not in ports:
        port = br.port(iface)
        if port is not None and port.master:
            where = f"{iface} is a port of {port.master}, not of {br.name}"
        elif setup.drvdom.runner.run("test", "-e", f"/sys/class/net/{validate.ifname(iface)}",
                                     once=True).ok:
            where = f"{iface} is no bridge's port"
        else:
            where = f"no interface {iface} in the driver domain"
        raise CheckFailed(f"ports of {br.name} (sysfs brif)", iface,
                          f"{where} (ports of {br.name}: {', '.join(ports) or 'none'})")


def forwarding(setup: Setup, iface: str) -> None:
    """The port forwards: administratively up, with carrier, in STP state forwarding; the
    message names each of these that fails."""
    br = setup.drvdom.bridge(setup.target.bridge)
    port = br.port(iface)
    if port is None or port.master != br.name:
        raise CheckFailed(f"`bridge -j -d link` port {iface} of {br.name}",
                          "state forwarding", "not a port of it")
    trouble = port.trouble(learning=False)
    if trouble:
        raise CheckFailed(f"`bridge -j -d link` port {iface} of {br.name}",
                          "up, with carrier, forwarding", trouble)


def vif_connected(setup: Setup, guest: str) -> None:
    """The guest's vif backend in the driver domain is Connected in xenstore and its
    hotplug script reported success (hotplug-status connected); Dom0 reads both. A vif
    enslaved and forwarding can still have a backend that never connected, or one that
    closed when its frontend went away."""
    backend_connected(setup, guest, served_vif(setup, guest)[0])


def backend_connected(setup: Setup, guest: str, vif: str) -> None:
    """The backend of ``vif`` (vif<domid>.<devid>) Connected, hotplug-status connected."""
    domid, devid = (int(x) for x in vif.removeprefix("vif").split("."))
    dd = setup.dom0.xl.domain(setup.target.driver_domain.name)
    if dd is None:
        raise CheckFailed("xl list", "the driver domain running", "no such domain")
    be: Backend | None = setup.dom0.xl.backends(dd.domid).get((domid, devid))
    where = f"xenstore /local/domain/{dd.domid}/backend/vif/{domid}/{devid}"
    if be is None:
        raise CheckFailed(where, f"the backend of {guest}'s {vif}", "absent")
    status = be.nodes.get("hotplug-status", "")
    if be.state != CONNECTED or status != "connected":
        raise CheckFailed(f"{where} ({guest}'s {vif})",
                          f"state {xenbus_state(CONNECTED)} and hotplug-status connected",
                          f"state {xenbus_state(be.state)} (its frontend: "
                          f"{xenbus_state(setup.dom0.xl.frontend_state(be))}), "
                          f"hotplug-status {status or 'absent'}")


def unplugged(setup: Setup, guest: str, vif: str, timeout: float = 60.0) -> None:
    """After ``xl network-detach``: the vif's interface leaves the bridge and its backend
    leaves xenstore (hotplug's offline ran), within ``timeout``."""
    domid, devid = (int(x) for x in vif.removeprefix("vif").split("."))
    br = setup.drvdom.bridge(setup.target.bridge)
    dd = setup.dom0.xl.domain(setup.target.driver_domain.name)

    def gone() -> bool:
        return vif not in br.ports() and (dd is None or (domid, devid) not in
                                          setup.dom0.xl.backends(dd.domid))
    try:
        wait.until(gone, timeout=timeout, what=f"{vif} of {guest} unplugged")
    except wait.WaitTimeout:
        raise CheckFailed(f"{vif} of {guest} after xl network-detach",
                          f"gone from {br.name} and from xenstore within {timeout:g} s",
                          f"ports of {br.name}: {', '.join(br.ports()) or 'none'}") from None


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


def _learned_on(setup: Setup, br: Bridge, guest: str, vif: str, mac: str) -> str:
    """``mac`` learned on ``vif`` from a frame at most :data:`FRESH` seconds old. An entry
    can outlive the traffic that made it by minutes (the bridge ages entries out after
    300 s): a stale one is named with its age, and with what keeps the guest's frames
    from arriving when the suite can tell."""
    entries = br.learned_entries(mac)
    mine = [e for e in entries if e.ifname == vif]
    if mine and (mine[0].updated is None or mine[0].updated <= FRESH):
        return vif
    if mine:
        found = f"learned on {vif}, but no frame from it for {mine[0].updated} s"
    elif entries:
        found = f"learned on {', '.join(e.ifname for e in entries)}"
    else:
        found = "not learned"
    why = _why_silent(setup, br, guest, vif)
    raise CheckFailed(f"`bridge -s fdb` of {br.name}",
                      f"{guest}'s MAC {mac} learned on {vif} from a frame of the last "
                      f"{FRESH} s", found + (f" ({why})" if why else ""))


def _why_silent(setup: Setup, br: Bridge, guest: str, vif: str) -> str:
    """What Dom0 and the bridge show that keeps a guest's frames away ('' when nothing)."""
    said = []
    dom = setup.dom0.xl.domain(guest)
    if dom is not None and any(c in dom.state for c in "pscd"):
        said.append(f"{guest} is {state_words(dom.state)}")
    port = br.port(vif)
    if port is None or port.master != br.name:
        said.append(f"{vif} is not a port of {br.name}"
                    + (f" but of {port.master}" if port and port.master else ""))
    elif port.trouble():
        said.append(f"port {vif}: {port.trouble()}")
    return "; ".join(said)


def mac_learned(setup: Setup, guest: str) -> str:
    return _learned_on(setup, setup.drvdom.bridge(setup.target.bridge), guest,
                       *served_vif(setup, guest))


def mac_learned_within(setup: Setup, guest: str, timeout: float) -> str:
    """:func:`mac_learned`, polled: a guest is given ``timeout`` seconds to send a frame.
    The vif and MAC are read once; each poll reads only the bridge's fdb."""
    last: list[CheckFailed] = []
    vif, mac = served_vif(setup, guest)
    br = setup.drvdom.bridge(setup.target.bridge)

    def probe() -> str | None:
        try:
            return _learned_on(setup, br, guest, vif, mac)
        except CheckFailed as e:
            last[:] = [e]
            return None

    try:
        return wait.until(probe, timeout=timeout, what=f"{guest}'s MAC learned by the bridge")
    except wait.WaitTimeout:
        if last:
            e = last[0]
            raise CheckFailed(e.what, e.expected + f", within {timeout:g} s", e.found) from None
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
        said = [_why_silent(setup, br, guest, vif)]
        if not any(a.startswith("fe80:") for a in br.addresses()):
            said.append(f"{br.name} has no IPv6 link-local address (IPv6 disabled on it?): "
                        "it can send no ICMPv6 on its link")
        raise CheckFailed(f"ping -6 {addr}%{br.name} from the driver domain",
                          f"{guest} ({mac}, on {vif}) to answer",
                          "no reply in 6 s" + "".join(f"; {x}" for x in said if x))


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
