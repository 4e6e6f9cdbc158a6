"""Then steps about the driver domain."""

import pytest
from pytest_bdd import parsers, then, when

from xenaccept import checks
from xenaccept.provision import Setup


@then(parsers.parse("the driver domain's kernel is built with {option} as built-in or module"))
def drvdom_kernel_option(setup: Setup, option: str) -> None:
    checks.kernel_option(setup, "drvdom", option)


@then(parsers.parse("the module {module} is available to the driver domain's kernel and "
                    "nothing keeps it from loading"))
def drvdom_module(setup: Setup, module: str) -> None:
    checks.module_available(setup, "drvdom", module)


@then("the driver domain's xl config passes the device with pci = [ 'BDF' ]")
def config_pci(setup: Setup) -> None:
    checks.config_passes_device(setup)


@then("the driver domain's xl config sets driver_domain = 1")
def config_driver_domain(setup: Setup) -> None:
    checks.config_is_driver_domain(setup)


@then("the kernel, ramdisk and disks the config boots from exist in Dom0")
def config_files(setup: Setup) -> None:
    checks.config_boot_files(setup)


@then("xl pci-list shows the device attached to the driver domain")
def attached(setup: Setup) -> None:
    checks.device_attached(setup)


@then("Dom0's PCI backend and the driver domain's pcifront are connected")
def pcifront(setup: Setup) -> None:
    checks.pci_backend_connected(setup)


@then("the driver domain runs the same kernel release as Dom0")
def same_kernel(setup: Setup) -> None:
    checks.same_kernel(setup)


@then("lspci in the driver domain shows the device with the vendor:device ID seen in Dom0")
def device_seen(setup: Setup) -> None:
    checks.device_in_driver_domain(setup)


@then("the native driver is bound to the device in the driver domain")
def native_bound(setup: Setup) -> None:
    checks.native_driver_bound(setup)


@then("the device is a network interface of the driver domain")
def netdev(setup: Setup) -> None:
    checks.device_netdev(setup)


@then(parsers.parse('"{script}" is executable and every helper it sources is present '
                    "in the driver domain"))
def scripts(setup: Setup, script: str) -> None:
    checks.hotplug_scripts(setup, script)


@then(parsers.parse('"{script}" and every helper it sources parse without a syntax error'))
def scripts_parse(setup: Setup, script: str) -> None:
    checks.hotplug_scripts_parse(setup, script)


@then("exactly one xl devd process runs in the driver domain")
def devd(setup: Setup) -> None:
    checks.one_devd(setup)


@then("that xl devd is running, not stopped")
def devd_alive(setup: Setup) -> None:
    checks.devd_alive(setup)


@then("the bridge exists in the driver domain and is up")
def bridge_up(setup: Setup) -> None:
    checks.bridge_up(setup)


@then("the passed-through NIC is enslaved to the bridge")
def nic_enslaved(setup: Setup) -> None:
    checks.enslaved(setup, checks.device_netdev(setup))


@then("the NIC's bridge port is forwarding")
def nic_forwarding(setup: Setup) -> None:
    checks.forwarding(setup, checks.device_netdev(setup))


PROBE = pytest.StashKey[tuple[str, int, str]]()


@when("a test vif served by the driver domain is plugged into a guest")
def plug_probe(setup: Setup, request: pytest.FixtureRequest) -> None:
    if not setup.provision:
        pytest.skip("plugs a test vif into a guest (a change): runs with --provision only. "
                    "Check mode proves less: xl devd runs and is not stopped, the hotplug "
                    "scripts are there and parse, and the vifs plugged before it are fine")
    request.node.stash[PROBE] = setup.plug_probe()


@then("xl devd ran vif-bridge for it: its backend is connected and it forwards on the bridge")
def probe_plugged(setup: Setup, request: pytest.FixtureRequest) -> None:
    guest, _, vif = request.node.stash[PROBE]
    checks.backend_connected(setup, guest, vif)
    checks.enslaved(setup, vif)
    checks.forwarding(setup, vif)


@then("unplugged again, it leaves the bridge")
def probe_unplugged(setup: Setup, request: pytest.FixtureRequest) -> None:
    guest, devid, vif = request.node.stash[PROBE]
    setup.unplug_probe(guest, devid)
    checks.unplugged(setup, guest, vif)
