"""Steps of the reboot scenarios: the setup made permanent comes back by itself, and will
come back at the next boot."""

import pytest
from pytest_bdd import given, then

from fixtures.record import record
from xenaccept import checks
from xenaccept.checks import nextboot
from xenaccept.provision import Setup, Stage
from xenaccept.resources.nextboot import NextBoot


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


@given("a permanent setup, its next boot read without rebooting", target_fixture="next_boot")
def next_boot(setup: Setup, pytestconfig: pytest.Config) -> NextBoot:
    made_permanent(setup)
    nb = nextboot.read(setup)
    record(pytestconfig).facts.setdefault(setup.target.name, {})["next_boot"] = nb.facts()
    setup.log(nb.summary())
    return nb


@then("GRUB's default entry boots Xen, with the hide on Dom0's line and every argument it "
      "runs with now")
def boot_entry(next_boot: NextBoot) -> None:
    nextboot.boot_entry(next_boot)


@then("the initramfs of the kernel that entry boots holds xen-pciback and the softdep before "
      "the native driver")
def initramfs(next_boot: NextBoot) -> None:
    nextboot.initramfs(next_boot)


@then("the units that start the setup at boot are enabled, in Dom0 and in the driver "
      "domain's disk")
def units(next_boot: NextBoot) -> None:
    nextboot.units(next_boot)


@then("the driver domain will boot the kernel Dom0 will boot, from boot files made for it")
def driver_domain_boot(next_boot: NextBoot) -> None:
    nextboot.driver_domain_boot(next_boot)


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
