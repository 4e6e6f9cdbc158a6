"""Then steps about the guests on the LAN (features/7_traffic_lan.feature)."""

import pytest
from pytest_bdd import then

from fixtures.lan import LanRun
from xenaccept.checks import lan as checks
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


@then("every guest holds an address on the LAN")
def leases(setup: Setup) -> None:
    _applies(setup)
    checks.lease_taken(setup, timeout=90 if setup.provision else 10)


@then("every guest's full-size pings to the gateway are all answered")
def gateway(setup: Setup, lan: LanRun) -> None:
    _applies(setup)
    checks.lease_taken(setup, timeout=90 if setup.provision else 10)
    for guest in setup.target.guests.names:
        checks.reaches_gateway(setup, lan.probed(setup)[guest])


@then("every guest's bulk TCP with the LAN peer arrives intact both ways")
def bulk(setup: Setup, lan: LanRun) -> None:
    _applies(setup, peer=True)
    checks.lease_taken(setup, timeout=90 if setup.provision else 10)
    for guest in setup.target.guests.names:
        checks.bulk_intact(setup, lan.probed(setup)[guest])
