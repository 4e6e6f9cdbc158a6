"""Setup decisions on recorded outputs, through a runner that replays them."""

import dataclasses
import shlex

import pytest

from tests.support import DATA, EXAMPLE, FakeRunner, data, example_target
from xenaccept.errors import CheckFailed, ReadOnlyViolation
from xenaccept.model import inventory
from xenaccept.provision import Setup, Stage, stages


@pytest.fixture
def target(tmp_path):
    return example_target(tmp_path)


def info(without: set[str] = frozenset()) -> str:
    text = data("dom0_xl-info_e1000.txt")
    line = next(x for x in text.splitlines() if x.startswith("virt_caps"))
    caps = " ".join(c for c in line.split(":", 1)[1].split() if c not in without)
    return text.replace(line, f"virt_caps              : {caps}")


def test_passthrough_supported_on_the_lab(target):
    s = Setup(target, FakeRunner("dom0", {"xl info": (0, info())}), FakeRunner("drvdom"), provision=False)
    assert s.passthrough_unsupported() is None


def test_no_iommu_means_a_skip_reason(target):
    s = Setup(target, FakeRunner("dom0", {"xl info": (0, info({"hvm_directio", "pv_directio"}))}),
              FakeRunner("drvdom"), provision=False)
    reason = s.passthrough_unsupported()
    assert reason and "no IOMMU in use" in reason and "hap hvm" in reason
    assert "directio" not in reason


def test_check_mode_never_provisions_and_reports_a_missing_driver_domain(target):
    xl_list = data("dom0_xl-list_e1000.txt")
    s = Setup(target, FakeRunner("dom0", {"xl list": (0, xl_list)}), FakeRunner("drvdom"), provision=False)
    with pytest.raises(CheckFailed, match="expected the driver domain drvdom running; "
                                          "found no such domain"):
        s.ensure(Stage.DRIVER_DOMAIN)
    assert [r.command for r in s.dom0.runner.transcript.entries] == ["xl list"]


def sysfs(bdf: str, driver_link: str, net: str = "") -> dict[str, tuple[int, str]]:
    """The answer of the one read of a device's sysfs (its driver link as recorded)."""
    from xenaccept.resources.pci import _SYSFS_SCRIPT
    command = shlex.join(["sh", "-c", _SYSFS_SCRIPT, "sh", f"/sys/bus/pci/devices/{bdf}"])
    return {command: (0, f"exists=1\ndriver={driver_link}\nvendor=0x8086\n"
                         f"device=0x100e\nnet={net}\n")}


def test_a_read_only_runner_refuses_the_hide(target):
    dom0 = FakeRunner("dom0", {**sysfs("0000:00:05.0", "../../../bus/pci/drivers/e1000"),
                               "test -e /sys/bus/pci/drivers/pciback": (0, "")})
    s = Setup(target, dom0, FakeRunner("drvdom"), provision=True)
    s.before = s.device_found_driver = None  # skip the state read: only the hide matters
    with pytest.raises(ReadOnlyViolation, match="xl pci-assignable-add 0000:00:05.0"):
        stages.hide_device(s)


def test_what_the_inventory_leaves_out_is_read_from_dom0(tmp_path):
    """A minimal target on a host hidden at boot: the native driver comes from lspci's
    module for the device (pciback holds it), Dom0's kernel and initrd from /boot."""
    from xenaccept.resources import hostdefaults
    from xenaccept.resources.host import Host
    [t] = inventory.parse({"targets": [{"dom0": "xen1", "device": "00:05.0",
                                        "driver_domain": {"ssh": "192.0.2.10"}}]},
                          base=tmp_path)
    bdf = "0000:00:05.0"
    dom0 = FakeRunner("dom0", {
        **sysfs(bdf, data("dom0_ls-l-05.0-driver_hidden.txt").split()[-1]),
        f"lspci -D -nnk -s {bdf}":
            (0, "0000:" + data("dom0_lspci-nnk-s-00-05.0_hidden.txt")),
        "uname -r": (0, data("dom0_uname-r_hidden.txt")),
        "cat /proc/cmdline": (0, data("dom0_proc-cmdline_hidden.txt")),
        "test -e /boot/vmlinuz-6.1.0-50-amd64": (0, ""),
        "test -e /boot/initrd.img-6.1.0-50-amd64": (0, ""),
    })
    r = hostdefaults.resolve(t, Host(dom0))
    assert r.device.native_driver == "e1000"
    # the driver domain the suite builds boots Dom0's kernel with an initramfs of its own
    # (Dom0's may be a targeted one, without the Xen block front-end)
    assert r.driver_domain.built
    assert (r.driver_domain.kernel, r.driver_domain.ramdisk) == \
        ("/boot/vmlinuz-6.1.0-50-amd64", None)
    assert r.guests.kernel == r.driver_domain.kernel and r.guests.ramdisk is None
    # an operator's own driver-domain disk boots Dom0's initrd, unless told otherwise
    own = dataclasses.replace(t, driver_domain=dataclasses.replace(
        t.driver_domain, disk="format=raw,vdev=xvda,target=/dev/vg/dd"))
    assert hostdefaults.resolve(own, Host(dom0)).driver_domain.ramdisk == \
        "/boot/initrd.img-6.1.0-50-amd64"
    assert not dom0.transcript.mutating()


@pytest.mark.parametrize("persist", [False, True])
def test_the_failure_logs_read_the_devd_journal_under_both_unit_names(target, persist):
    # started by the suite it is the transient unit; made permanent (--persist) the driver
    # domain's own unit: the log attached to a failed step must read whichever ran
    from xenaccept.report.facts import diagnostics
    from xenaccept.names import DEVD_UNIT_PERSISTENT, DEVD_UNIT_RUNTIME
    xl_list = data("dom0_xl-list_assigned-running.txt")
    drvdom = FakeRunner("drvdom")
    s = Setup(target, FakeRunner("dom0", {"xl list": (0, xl_list)}), drvdom, provision=False,
              persist=persist)
    logs = diagnostics(s)
    assert "xl devd log (driver domain)" in logs
    [devd] = [e.command for e in drvdom.transcript.entries if "journalctl" in e.command]
    assert f"-u {DEVD_UNIT_RUNTIME} " in devd and f"-u {DEVD_UNIT_PERSISTENT} " in devd
    assert "tail -n 80 /var/log/xen/xldevd.log" in devd


class Rebooting(FakeRunner):
    """Dom0 that answers until it is told to reboot, then never again (its boot hangs)."""

    def __init__(self) -> None:
        super().__init__("dom0", {"cat /proc/sys/kernel/random/boot_id": (0, "b-1\n"),
                                  "systemctl reboot": (0, "")}, read_only=False)
        self.down = False

    def answer(self, command: str) -> tuple[int, str, str]:
        from xenaccept.errors import HarnessError
        if self.down:
            raise HarnessError("dom0: connection refused")
        self.down = command == "systemctl reboot"
        return super().answer(command)


def test_a_reboot_whose_console_goes_silent_is_a_stuck_boot_named_in_seconds(target, tmp_path):
    """With the console log the inventory names, a reboot that hangs is reported once the
    console has been silent for the chosen time, with the stage it stopped in and its last
    lines, not after the 600 s deadline."""
    import time
    from xenaccept.errors import HarnessError
    log = tmp_path / "console.log"
    boot = (DATA / "lab_serial-log_cold-boot.txt").read_text(errors="replace")
    log.write_text(boot[: boot.index("sched_clock: Marking stable") + 80])
    t = dataclasses.replace(target, console_log=str(log))
    s = Setup(t, Rebooting(), FakeRunner("drvdom"), provision=True, log=lambda m: None)
    s.console_silence_s = 1.0
    start = time.monotonic()
    with pytest.raises(HarnessError) as e:
        s.reboot_host("into the permanent setup")
    took = time.monotonic() - start
    msg = str(e.value)
    print(msg)
    assert took < 5, took
    assert "Dom0's boot after the reboot into the permanent setup is stuck" in msg
    import re
    silent = re.search(rf"its console \({re.escape(str(log))}\) printed nothing for (\d+) s", msg)
    assert silent and 1 <= int(silent.group(1)) <= 3, msg
    assert "stopped in Dom0's kernel, 6.7 s into its boot" in msg
    assert "  | [    6.735097] sched_clock: Marking stable" in msg  # the console's last lines
    assert "LAB FAULT" not in msg  # not a lab target: an operator's console log


def test_the_inventory_names_a_console_log_that_exists(target, tmp_path):
    import yaml
    d = yaml.safe_load(EXAMPLE.read_text())
    d["targets"][0]["console_log"] = str(tmp_path / "nope.log")
    with pytest.raises(Exception, match=r"console_log: .*does not exist"):
        inventory.parse({"targets": d["targets"][:1]}, base=tmp_path)


class BackAfterSilence(FakeRunner):
    """Dom0 that answers from a new boot at the first poll after the reboot."""

    def __init__(self) -> None:
        super().__init__("dom0", {"systemctl reboot": (0, "")}, read_only=False)
        self.polls = 0
        self.rebooted = False

    def answer(self, command: str) -> tuple[int, str, str]:
        if command == "systemctl reboot":
            self.rebooted = True
            return 0, "", ""
        if not self.rebooted:
            return 0, "b-1\n", ""
        self.polls += 1
        return 0, "b-2\n", ""


def test_a_dom0_back_from_a_new_boot_is_never_called_stuck(target, tmp_path):
    """Its console is silent (a booted Dom0 prints nothing after its login prompt) for
    longer than the threshold when the wait polls, yet Dom0 answers from a new boot on that
    poll: back, not stuck (the silence is read only after a poll Dom0 did not answer)."""
    log = tmp_path / "console.log"
    log.write_text("xenlab-dom0 login: \n")
    t = dataclasses.replace(target, console_log=str(log))
    dom0 = BackAfterSilence()
    s = Setup(t, dom0, FakeRunner("drvdom"), provision=True, log=lambda m: None)
    s.console_silence_s = 0.0   # silent "long enough" at every poll
    assert s.reboot_host("to test") == ("b-1", "b-2")
    assert dom0.polls == 1



@pytest.mark.parametrize("provision", [False, True])
def test_the_failure_logs_are_read_again_only_after_the_suite_changed_a_host(target, provision):
    from xenaccept.report.facts import AGAIN, FailureLogs
    xl_list = data("dom0_xl-list_assigned-running.txt")
    dom0 = FakeRunner("dom0", {"xl list": (0, xl_list), "sh -c 'xl dmesg": "(XEN) ok\n",
                               "xl destroy": ""}, match="prefix", read_only=not provision)
    drvdom = FakeRunner("drvdom", read_only=not provision, transcript=dom0.transcript)
    s = Setup(target, dom0, drvdom, provision=provision)
    logs = FailureLogs()
    first, second = logs(s), logs(s)
    assert first["xl dmesg (tail)"] == "(XEN) ok\n"
    assert second["xl dmesg (tail)"] == AGAIN + "(XEN) ok\n"
    assert len([c for c in dom0.sent if "xl dmesg" in c]) == 1
    if provision:  # a change to a host: the next failure reads them again
        dom0.run("xl", "destroy", "xa-guest1", mutates=True)
        assert logs(s)["xl dmesg (tail)"] == "(XEN) ok\n"
        assert len([c for c in dom0.sent if "xl dmesg" in c]) == 2
