"""Given steps: the stage of the setup a scenario needs.

With --provision each one builds what is missing, in order; in check mode they change
nothing and the Then steps find out whether the host holds the checkpoint.
"""

import pytest
from pytest_bdd import given

from xenaccept.provision import Setup, Stage


@given("the Dom0 of the target")
def dom0_reachable(setup: Setup) -> None:
    setup.dom0.kernel.release  # noqa: B018 - answers (the run reads it anyway)


@given("the device is hidden from Dom0")
def device_hidden(setup: Setup) -> None:
    setup.ensure(Stage.DEVICE_HIDDEN)


def _with_passthrough(setup: Setup, stage: Stage) -> None:
    """Stages from the driver domain on need PCI passthrough: without an IOMMU the
    scenario is skipped with the reason, never passed."""
    reason = setup.passthrough_unsupported()
    if reason:
        pytest.skip(reason)
    setup.ensure(stage)


@given("the driver domain is running")
def driver_domain_running(setup: Setup) -> None:
    _with_passthrough(setup, Stage.DRIVER_DOMAIN)


@given("xl devd runs in the driver domain")
def backend_daemon(setup: Setup) -> None:
    _with_passthrough(setup, Stage.BACKEND_DAEMON)


@given("the bridge is up in the driver domain")
def bridge(setup: Setup) -> None:
    _with_passthrough(setup, Stage.BRIDGE)


@given("the guests are running")
def guests(setup: Setup) -> None:
    _with_passthrough(setup, Stage.GUESTS)
