"""Then steps about the guests (every guest of the inventory)."""

import pytest
from pytest_bdd import then, when

from fixtures.lan import LanRun
from xenaccept import checks
from xenaccept.checks import isolation
from xenaccept.checks import lan as lan_checks
from xenaccept.errors import CheckFailed
from xenaccept.provision import Setup
from xenaccept.provision.outage import LateDaemon, Outage


@then("every guest has a vif whose backend is the driver domain")
def vif_backend(setup: Setup) -> None:
    for guest in setup.target.guests.names:
        checks.guest_vif(setup, guest)


@then("every guest's vif backend is connected and its hotplug script succeeded")
def vifs_connected(setup: Setup) -> None:
    for guest in setup.target.guests.names:
        checks.vif_connected(setup, guest)


@then("every guest's backend interface is enslaved to the bridge and forwarding")
def vifs_enslaved(setup: Setup) -> None:
    for guest in setup.target.guests.names:
        vif = checks.guest_vif(setup, guest)
        checks.enslaved(setup, vif)
        checks.forwarding(setup, vif)


@then("the bridge learns every guest's MAC address on that guest's vif")
def macs_learned(setup: Setup) -> None:
    # a guest just started is given a minute; one found running, a few seconds (the
    # suite's guests send a frame a second)
    timeout = 60 if setup.provision else 10
    checks.every_guest(setup, lambda guest: checks.mac_learned_within(setup, guest, timeout))


@then("the driver domain reaches every guest across the bridge")
def guests_answer(setup: Setup) -> None:
    checks.every_guest(setup, lambda guest: checks.guest_answers_ping(setup, guest))


MOVING_BYTES = 4 << 20   # each way: seconds of data under TCG, so the kill lands mid-way


def _provision_only(setup: Setup, what: str) -> None:
    if not setup.provision:
        pytest.skip(f"{what}: runs with --provision only")


@when("every guest moves data with the LAN peer, and the driver domain is destroyed under "
      "it and created again", target_fixture="outage")
def kill_driver_domain(setup: Setup, lan: LanRun) -> Outage:
    _provision_only(setup, "restarts the driver domain")
    t = setup.target

    def moving() -> tuple[list[str], int | None]:
        if not (t.lan.enabled and t.guests.built and lan.peer is not None):
            setup.log("no data moved at the kill (lan: none, guests of the operator's own, "
                      "or no lan.peer): the driver domain is destroyed while the guests run")
            return [], None
        asked = lan_checks.ask(setup, size=MOVING_BYTES, known=lan_checks.leased(setup, 90))
        keys = {(g, asked.seq) for g in asked.guests}
        started = lan.peer.wait_started(keys, timeout=30)
        if started != keys:
            raise CheckFailed("the LAN peer", "every guest's data under way before the kill",
                              f"under way: {sorted(g for g, _ in started) or 'none'}")
        return sorted(g for g, _ in started), asked.seq
    out = setup.kill_driver_domain(moving)
    if out.moving and out.seq is not None and lan.peer is not None:
        sessions = lan.peer.sessions
        cut = [g for g in out.moving if not ((s := sessions.get((g, out.seq))) and s.intact)]
        setup.log(f"{t.driver_domain.name} destroyed while {', '.join(out.moving)} moved "
                  f"data; transfers cut: {', '.join(cut) or 'none (they ended first)'}; back "
                  f"in {out.seconds:.0f} s")
    return out


@when("the driver domain's kernel crashes (xl sysrq c) and it is created again",
      target_fixture="outage")
def crash_driver_domain(setup: Setup) -> Outage:
    _provision_only(setup, "crashes the driver domain")
    out = setup.crash_driver_domain()
    setup.log(f"{setup.target.driver_domain.name} crashed and back in {out.seconds:.0f} s")
    return out


@when("a guest is started while xl devd is down in the driver domain, then xl devd is "
      "started", target_fixture="late")
def guest_while_devd_down(setup: Setup) -> LateDaemon:
    _provision_only(setup, "stops xl devd and restarts a guest")
    late = setup.guest_started_while_devd_down(setup.target.guests.names[-1])
    setup.log(f"{late.guest} started while xl devd was down: {late.vif} "
              f"{'was already' if late.on_bridge_without_devd else 'was not'} a bridge port "
              f"meanwhile; forwarding {late.seconds:.1f} s after xl devd started")
    return late


@then("Dom0 still answers and its toolstack works")
def dom0_fine(setup: Setup) -> None:
    checks.dom0_toolstack_works(setup)


@then("nothing of the dead driver domain is left in xenstore")
def nothing_stale(setup: Setup, outage: Outage) -> None:
    isolation.no_stale_backend(setup, outage.dead_domid)


@then("every guest runs on as the same domain")
def guests_ran_on(setup: Setup, outage: Outage) -> None:
    isolation.guests_ran_on(setup, outage.guests)


@then("that guest's backend interface is enslaved to the bridge and forwarding")
def late_vif_plugged(setup: Setup, late: LateDaemon) -> None:
    vif = checks.guest_vif(setup, late.guest)
    checks.enslaved(setup, vif)
    checks.forwarding(setup, vif)
