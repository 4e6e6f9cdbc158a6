"""Feature 8's checks after the driver domain died, on xenstore as Dom0 read it on the lab."""

import pytest

from tests.support import FakeRunner, data, example_target
from xenaccept.checks import isolation
from xenaccept.errors import CheckFailed
from xenaccept.resources.host import Host

AFTER = data("dom0_xenstore-ls-f-device-vif_after-restart.txt")
RECREATED = data("dom0_xenstore-ls-f-device-vif_driver-domain-recreated.txt")
LIST_RECREATED = data("dom0_xl-list_driver-domain-recreated.txt")
LIST_AFTER = LIST_RECREATED.replace("drvdom                                       6",
                                    "drvdom                                       4")


class Ctx:
    def __init__(self, tmp_path, xl_list: str, xenstore: str) -> None:
        self.target = example_target(tmp_path)
        self.dom0 = Host(FakeRunner("dom0", {"xl list": xl_list, "sh -c": xenstore},
                                    match="prefix"))


def test_frontends_are_read_per_vif():
    assert isolation.frontends(AFTER, 5)[0]["backend-id"] == "4"
    assert isolation.frontends(AFTER, 5)[0]["state"] == "4"
    assert set(isolation.frontends(AFTER, 2)) == {0}


def test_vifs_re_attached_to_the_new_driver_domain_leave_nothing_stale(tmp_path):
    isolation.no_stale_backend(Ctx(tmp_path, LIST_AFTER, AFTER), dead_domid=1)


def test_vifs_still_naming_the_dead_driver_domain_are_stale(tmp_path):
    with pytest.raises(CheckFailed) as failed:
        isolation.no_stale_backend(Ctx(tmp_path, LIST_RECREATED, RECREATED), dead_domid=4)
    said = str(failed.value)
    assert "xa-guest1's vif 0: backend domid 4 (the driver domain is 6 now, the dead one " \
           "was 4), frontend state 4 (Connected)" in said
    assert "xa-guest2's vif 0" in said


def test_the_dead_domains_directory_left_is_stale(tmp_path):
    left = "dead-domain-left=1\n" + AFTER
    with pytest.raises(CheckFailed, match=r"/local/domain/1 \(the dead driver domain"):
        isolation.no_stale_backend(Ctx(tmp_path, LIST_AFTER, left), dead_domid=1)


def test_guests_that_ran_on_pass_and_a_restarted_one_is_named(tmp_path):
    ctx = Ctx(tmp_path, LIST_AFTER, "")
    isolation.guests_ran_on(ctx, {"xa-guest1": 2, "xa-guest2": 5})
    with pytest.raises(CheckFailed, match="xa-guest2: domid 5, was 3 \\(restarted\\)"):
        isolation.guests_ran_on(ctx, {"xa-guest1": 2, "xa-guest2": 3})
