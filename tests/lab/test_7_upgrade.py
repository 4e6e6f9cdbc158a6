"""A kernel upgrade, as an operator lives it: the suite on the host before, the same host
booted on the newer kernel (the lab's `bookworm-bpo` flavour: bookworm-backports' Linux
6.12 instead of 6.1, same Xen), the suite again with the first run as its baseline."""

import json

import pytest

from .conftest import RUNS, ROOT, dom0_state, dump, run_suite
from .test_2_suite import NO_ISOLATION, all_passed

pytestmark = pytest.mark.lab

UPGRADED = "bookworm-bpo"


def test_a_kernel_upgrade_is_compared_with_the_run_before_it(labs):
    if "provision" not in RUNS:  # run on its own: the run before the upgrade is made here
        labs.get("fresh")
        all_passed(run_suite("--provision", name="provision"))
    baseline = json.loads(RUNS["provision"].read_text())
    [(target, old)] = baseline["facts"].items()

    lab = labs.get("fresh", flavour=UPGRADED)
    dom0 = lab.dom0()
    try:
        kernel = dom0.out("uname", "-r").strip()
    finally:
        dom0.close()
    assert kernel.startswith("6.12.") and old["dom0_kernel"].startswith("6.1."), \
        (old["dom0_kernel"], kernel)

    before = dom0_state(lab)
    # the isolation scenario (a driver-domain restart, 75 s) is left out here: the
    # comparison lists it as gone, not as a regression
    run = run_suite("--provision", *NO_ISOLATION, f"--baseline={RUNS['provision']}",
                    name="upgrade")
    after = dom0_state(lab)
    all_passed(run, isolation="deselected")  # exit 0: nothing regressed
    assert after == before, f"before:\n{dump(before)}\nafter:\n{dump(after)}"

    comparison = (ROOT / "reports" / "comparison.md").read_text()
    print(comparison)
    assert "what changed since the baseline" in run.output
    # the facts diff names the upgrade: both kernels (Dom0's and the driver domain's, which
    # boots Dom0's kernel) and the package that brought it; Xen did not change
    for fact in ("dom0_kernel", "driver_domain_kernel"):
        assert f"`{target}.{fact}`: `{old[fact]}` -> `{kernel}`" in comparison, fact
    assert f"`{target}.packages.linux-image-amd64`: `{old['packages']['linux-image-amd64']}`" \
        in comparison
    assert f"`{target}.xen_version`" not in comparison
    assert "## Regressions (passed before, not now)\n\n- none" in comparison
