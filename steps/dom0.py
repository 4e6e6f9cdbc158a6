"""Then steps about Dom0."""

from pytest_bdd import parsers, then

from xenaccept import checks
from xenaccept.provision import Setup


@then(parsers.parse("Dom0's kernel is built with {option} as built-in or module"))
def dom0_kernel_option(setup: Setup, option: str) -> None:
    checks.kernel_option(setup, "dom0", option)


@then(parsers.parse("the module {module} is available to Dom0's kernel and nothing keeps it "
                    "from loading"))
def dom0_module(setup: Setup, module: str) -> None:
    checks.module_available(setup, "dom0", module)


@then("Dom0 hides the device by its boot command line or through xl pci-assignable-add")
def hidden_how(setup: Setup) -> None:
    checks.hidden_how(setup)


@then("the device is bound to pciback in sysfs")
def bound_to_pciback(setup: Setup) -> None:
    checks.bound_to_pciback(setup)


@then("pciback lists the device in its slots")
def in_slots(setup: Setup) -> None:
    checks.in_pciback_slots(setup)


@then("no native driver holds the device in Dom0")
def no_native(setup: Setup) -> None:
    checks.no_native_driver(setup)


@then("the toolstack offers the device for passthrough or has passed it to the driver domain")
def offered(setup: Setup) -> None:
    checks.offered_for_passthrough(setup)
