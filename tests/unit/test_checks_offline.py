"""Checkpoints on outputs recorded from the lab with faults made for real, through runners
that replay them: what the messages say about where things are."""

import json
import shlex

import pytest

from tests.support import FakeRunner, data, example_target
from xenaccept import checks
from xenaccept.errors import CheckFailed
from xenaccept.provision import Setup

BRIDGE_SYSFS = shlex.join(["sh", "-c", 'd="$1"; [ -d "$d/bridge" ] || exit 0; '
                           'echo bridge; cat "$d/operstate"; ls -1 "$d/brif"', "sh",
                           "/sys/class/net/xenbr0"])


@pytest.fixture
def setup(tmp_path):
    target = example_target(tmp_path, guests={"names": ["guest1", "guest2"],
                                              "mac_prefix": "00:16:3e:5a:00"})
    net1 = data("dom0_xl-network-list-guest1_assigned-running.txt")
    dom0 = FakeRunner("dom0", {
        "xl list": (0, data("dom0_xl-list_assigned-running.txt").replace(
            "guest2                                       3   512     1     -b----",
            "guest2                                       3   512     1     --p---")),
        "xl network-list guest1": (0, net1),
        "xl network-list guest2": (0, net1.replace("0   1  00:16:3e:5a:00:01",
                                                   "0   1  00:16:3e:5a:00:02")),
        "xenstore-ls -f /local/domain/1/backend/vif":
            (0, data("dom0_xenstore-ls-f-backend-vif_assigned-running.txt")),
    })
    drvdom = FakeRunner("drvdom", {
        # made on the lab: vif2.0's port disabled, vif3.0 moved to a bridge xenbr1
        "bridge -j -d link show": (0, data("drvdom_bridge-j-d-link_faults.txt")),
        BRIDGE_SYSFS: (0, "bridge\nup\neth0\nvif2.0\n"),
        "bridge -j -s fdb show br xenbr0": (0, data("drvdom_bridge-j-s-fdb-show-br-xenbr0.txt")),
        "ip -j addr show dev xenbr0": (0, "[]"),
    })
    return Setup(target, dom0, drvdom, provision=False)


def test_a_vif_on_another_bridge_is_named_with_that_bridge(setup):
    vif = checks.guest_vif(setup, "guest2")
    assert vif == "vif3.0"
    with pytest.raises(CheckFailed, match="vif3.0 is a port of xenbr1, not of xenbr0 "
                                          r"\(ports of xenbr0: eth0, vif2.0\)"):
        checks.enslaved(setup, vif)


def test_a_disabled_port_says_its_state(setup):
    checks.enslaved(setup, "vif2.0")
    with pytest.raises(CheckFailed, match="found port state disabled"):
        checks.forwarding(setup, "vif2.0")


def test_a_silent_guest_is_named_paused_and_the_bridge_without_ipv6(setup):
    with pytest.raises(CheckFailed) as e:
        checks.guest_answers_ping(setup, "guest2")  # ping is not recorded: no reply
    assert "guest2 is paused" in str(e.value)
    assert "vif3.0 is not a port of xenbr0 but of xenbr1" in str(e.value)
    assert "xenbr0 has no IPv6 link-local address" in str(e.value)


def test_a_connected_backend_passes_and_the_check_mode_reads_each_fact_once(setup):
    checks.vif_connected(setup, "guest1")
    checks.vif_connected(setup, "guest1")
    sent = [r.command for r in setup.dom0.runner.transcript.sent()]
    assert sent.count("xl list") == 1 and len(sent) == len(set(sent))


class QuietGuests(FakeRunner):
    """The driver domain's bridge with guest1's entry last refreshed 240 s ago (a quiet
    guest) until guest1 answers a ping; guest2 (paused) answers none."""

    def __init__(self, answers: dict[str, tuple[int, str]]) -> None:
        super().__init__("drvdom", answers)
        self.pinged: list[str] = []
        entries = json.loads(data("drvdom_bridge-j-s-fdb-show-br-xenbr0.txt"))
        for e in entries:
            if e["mac"].startswith("00:16:3e:5a:00:"):
                e["updated"] = 240
        self.fdb = entries

    def answer(self, command: str) -> tuple[int, str, str]:
        if command.startswith("ping -6 "):
            self.pinged.append(command)
            if "fe80::216:3eff:fe5a:1%xenbr0" in command:  # guest1's EUI-64 address
                for e in self.fdb:
                    if e["mac"] == "00:16:3e:5a:00:01":
                        e["updated"] = 0
                return 0, "", ""
            return 1, "", ""
        if command == "bridge -j -s fdb show br xenbr0":
            return 0, json.dumps(self.fdb), ""
        return super().answer(command)


def test_a_quiet_guest_is_asked_for_a_frame_and_its_answer_refreshes_its_entry(setup):
    quiet = QuietGuests(setup.drvdom.runner.answers)
    setup = Setup(setup.target, setup.dom0.runner, quiet, provision=False)
    assert checks.mac_learned_within(setup, "guest1", timeout=5) == "vif2.0"
    assert len(quiet.pinged) == 1


def test_a_guest_silent_even_when_asked_fails_saying_so(setup):
    quiet = QuietGuests(setup.drvdom.runner.answers)
    setup = Setup(setup.target, setup.dom0.runner, quiet, provision=False)
    with pytest.raises(CheckFailed) as e:
        checks.mac_learned_within(setup, "guest2", timeout=1)
    assert "learned on vif3.0, but no frame from it for 240 s" in str(e.value)
    assert "guest2 is paused" in str(e.value)
    assert "the driver domain's ping asking guest2 for a frame got no reply" in str(e.value)
    assert len(quiet.pinged) == 1  # asked once, not at every poll


def test_every_guest_is_checked_and_each_failure_named():
    """A fault on one guest never hides another's: one failure is raised as it is, two
    as one message naming both guests."""
    from types import SimpleNamespace

    from xenaccept.checks.guests import every_guest
    from xenaccept.errors import CheckFailed
    ctx = SimpleNamespace(target=SimpleNamespace(guests=SimpleNamespace(names=("g1", "g2"))))
    seen: list[str] = []

    def fails(bad: set[str]):
        def check(guest: str) -> None:
            seen.append(guest)
            if guest in bad:
                raise CheckFailed(f"{guest}'s vif", "learned", f"not learned ({guest})")
        return check
    every_guest(ctx, fails(set()))
    with pytest.raises(CheckFailed, match=r"^g1's vif: expected learned; found not learned"):
        every_guest(ctx, fails({"g1"}))
    with pytest.raises(CheckFailed) as both:
        every_guest(ctx, fails({"g1", "g2"}))
    assert str(both.value) == ("g1, g2: expected learned; found [g1] g1's vif: expected "
                               "learned; found not learned (g1)\n[g2] g2's vif: expected "
                               "learned; found not learned (g2)")
    assert seen == ["g1", "g2"] * 3
