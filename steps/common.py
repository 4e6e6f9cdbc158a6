"""Given steps: the stage of the setup a scenario needs.

With --provision each one builds what is missing, in order; in check mode they change
nothing and the Then steps find out whether the host holds the checkpoint.
"""

from pytest_bdd import given

from xenaccept.provision import Setup, Stage


@given("the Dom0 of the target")
def dom0_reachable(setup: Setup) -> None:
    setup.dom0.runner.run("true", check=True)


@given("the device is hidden from Dom0")
def device_hidden(setup: Setup) -> None:
    setup.ensure(Stage.DEVICE_HIDDEN)


@given("the driver domain is running")
def driver_domain_running(setup: Setup) -> None:
    setup.ensure(Stage.DRIVER_DOMAIN)


@given("xl devd runs in the driver domain")
def backend_daemon(setup: Setup) -> None:
    setup.ensure(Stage.BACKEND_DAEMON)


@given("the bridge is up in the driver domain")
def bridge(setup: Setup) -> None:
    setup.ensure(Stage.BRIDGE)


@given("the guests are running")
def guests(setup: Setup) -> None:
    setup.ensure(Stage.GUESTS)
