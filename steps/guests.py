"""Then steps about the guests (every guest of the inventory)."""

import pytest
from pytest_bdd import then, when

from xenaccept import checks
from xenaccept.provision import Setup


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


@when("the driver domain is destroyed and created again")
def restart_driver_domain(setup: Setup) -> None:
    if not setup.provision:
        pytest.skip("restarts the driver domain: runs with --provision only")
    setup.restart_driver_domain()


@then("Dom0 still answers and its toolstack works")
def dom0_fine(setup: Setup) -> None:
    checks.dom0_toolstack_works(setup)
