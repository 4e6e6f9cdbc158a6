"""Then steps about the guests on the LAN (features/7_traffic_lan.feature). Each step
checks every guest and names every one that fails, not only the first."""

from collections.abc import Callable

import pytest
from pytest_bdd import then

from fixtures.lan import LanRun
from xenaccept.checks import lan as checks
from xenaccept.checks.guests import every_guest
from xenaccept.provision import Setup


def _applies(setup: Setup, *, peer: bool = False) -> None:
    t = setup.target
    if not t.lan.enabled:
        pytest.skip("lan: none in the inventory: the guests' LAN is not checked")
    if not t.guests.built:
        pytest.skip("the guests run the operator's own system (guests.ramdisk): the suite "
                    "does not log into them, so it cannot ask them for a LAN probe")
    if peer and not t.lan.peer:
        pytest.skip("no lan.peer in the inventory: no TCP peer on the LAN to move data with")


def _every(setup: Setup, check: Callable[[str], None], expected: str) -> None:
    every_guest(setup, check, expected)


def _timeout(setup: Setup) -> float:
    return 90 if setup.provision else 10


@then("every guest holds an address on the LAN")
def leases(setup: Setup) -> None:
    _applies(setup)
    found = checks.leased(setup, _timeout(setup))
    _every(setup, lambda g: checks.lease_taken(setup, found[g], _timeout(setup)),
           "every guest holding a LAN address")


@then("every guest's full-size pings to the gateway are all answered")
def gateway(setup: Setup, lan: LanRun) -> None:
    _applies(setup)
    probes = lan.probed(setup, _timeout(setup))
    _every(setup, lambda g: checks.reaches_gateway(setup, probes.get(g) or _unasked(setup, g)),
           "every guest's full-size pings answered")


@then("every guest's bulk TCP with the LAN peer arrives intact both ways")
def bulk(setup: Setup, lan: LanRun) -> None:
    _applies(setup, peer=True)
    probes = lan.probed(setup, _timeout(setup))
    _every(setup, lambda g: checks.bulk_intact(setup, probes.get(g) or _unasked(setup, g)),
           "every guest's bulk TCP intact both ways")


def _unasked(setup: Setup, guest: str) -> checks.Probe:
    """A guest the probe did not ask (no agent, or paused): its nodes, for the check to
    say why."""
    p = checks.agents(setup)[guest]
    checks.lease_taken(setup, p, 0)
    return p


@then("every guest is back on the LAN")
def back_on_the_lan(setup: Setup) -> None:
    t = setup.target
    if not t.lan.enabled or not t.guests.built:  # the rest of the scenario still holds
        setup.log("the guests' LAN not checked after the restart (lan: none, or guests of "
                  "the operator's own)")
        return
    checks.back_on_the_lan(setup, timeout=90)
