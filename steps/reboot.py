"""Steps of the reboot scenario: the setup made permanent comes back by itself."""

import pytest
from pytest_bdd import given, then

from xenaccept import checks
from xenaccept.provision import Setup, Stage


@given("the setup is made permanent and the host rebooted")
def made_permanent(setup: Setup) -> None:
    if setup.provision and not setup.persist:
        pytest.skip("makes the setup permanent and reboots Dom0: runs with --persist only")
    if not setup.provision and not checks.persistent_setup_present(setup):
        pytest.skip("no permanent setup on this host (xenaccept-domains.service not "
                    "enabled): make one with --provision --persist --keep")
    reason = setup.passthrough_unsupported()
    if reason:
        pytest.skip(reason)
    setup.ensure(Stage.PERSISTED)


@then("Dom0 runs a boot started after the setup was made permanent")
def new_boot(setup: Setup) -> None:
    checks.booted_after_persist(setup)


@then("the device was hidden by Dom0's boot command line, not by xl")
def hidden_at_boot(setup: Setup) -> None:
    checks.hidden_at_boot(setup)


@then("the driver domain and the guests were started at boot by xenaccept-domains.service")
def started_at_boot(setup: Setup) -> None:
    checks.started_at_boot(setup)


@then("xl devd and the bridge came up from the driver domain's own config")
def own_config(setup: Setup) -> None:
    checks.driver_domain_own_config(setup)
