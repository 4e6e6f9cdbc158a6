"""9. The setup comes back after the host reboots."""

from __future__ import annotations

from xenaccept.checks.bridge import enslaved
from xenaccept.checks.context import Context
from xenaccept.checks.device import bound_to_pciback
from xenaccept.errors import CheckFailed
from xenaccept.names import (DEVD_UNIT_PERSISTENT, DOMAINS_UNIT, PERSIST_RECORD, READY_KEY,
                             READY_UNIT)
from xenaccept.resources.kernel import hidden_bdfs
from xenaccept.resources.xenstore import assignable_node


def persistent_setup_present(setup: Context) -> bool:
    """Whether Dom0 holds a permanent setup: the record ``--persist`` keeps (so that a
    setup whose unit was disabled since is checked, and fails), or the autostart unit
    enabled."""
    return setup.dom0.file_exists(PERSIST_RECORD) or \
        setup.dom0.runner.run("systemctl", "is-enabled", "--quiet", DOMAINS_UNIT).ok


def booted_after_persist(setup: Context) -> None:
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
    r = setup.dom0.runner.run("systemctl", "is-active", DOMAINS_UNIT)
    if r.stdout.strip() != "active":
        raise CheckFailed(f"{DOMAINS_UNIT} in Dom0", "active (run in this boot)",
                          r.stdout.strip() or r.stderr.strip())


def hidden_at_boot(setup: Context) -> None:
    bdf = setup.bdf
    cmdline = setup.dom0.kernel.cmdline
    if bdf not in hidden_bdfs(cmdline):
        raise CheckFailed("Dom0's /proc/cmdline", f"xen-pciback.hide=({bdf})", cmdline)
    record = setup.dom0.xl.assignable_record(bdf)
    if record is not None:
        raise CheckFailed(assignable_node(bdf), "no record (hidden at boot, not by xl)",
                          f"xl pci-assignable-add's record {record!r}")
    bound_to_pciback(setup)


def started_at_boot(setup: Context) -> None:
    r = setup.dom0.runner.run("systemctl", "show", "-p", "UnitFileState,ActiveState",
                              DOMAINS_UNIT)
    props = dict(line.partition("=")[::2] for line in r.stdout.splitlines())
    if props.get("UnitFileState") != "enabled" or props.get("ActiveState") != "active":
        raise CheckFailed(f"{DOMAINS_UNIT} in Dom0", "enabled and active",
                          f"{props.get('UnitFileState', '?')} and "
                          f"{props.get('ActiveState', '?')}")
    t = setup.target
    missing = [n for n in (t.driver_domain.name, *t.guests.names)
               if setup.dom0.xl.domain(n) is None]
    if missing:
        raise CheckFailed("xl list in Dom0", "the driver domain and every guest running",
                          f"not running: {', '.join(missing)}")


def driver_domain_own_config(setup: Context) -> None:
    """xl devd and the bridge were brought up by the driver domain's own units (not by the
    suite over SSH), and it told Dom0 so (its readiness flag in xenstore)."""
    units = (DEVD_UNIT_PERSISTENT, READY_UNIT, "systemd-networkd.service")
    r = setup.drvdom.runner.run("systemctl", "is-active", *units)
    states = r.stdout.split()
    if states != ["active"] * 3:
        raise CheckFailed(f"units in {setup.drvdom.name}",
                          ", ".join(u.removesuffix(".service") for u in units) + " active",
                          " ".join(states) or r.stderr.strip())
    dom = setup.dom0.xl.domain(setup.target.driver_domain.name)
    key = f"/local/domain/{dom.domid if dom else '?'}/{READY_KEY}"
    flag = setup.dom0.runner.run("xenstore-read", key)
    if flag.stdout.strip() != "1":
        raise CheckFailed(f"xenstore {key}", "1 (the driver domain is ready)",
                          flag.stdout.strip() or flag.stderr.strip() or "absent")
    enslaved(setup, setup.target.driver_domain.nic)
