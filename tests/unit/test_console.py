"""Where a boot got to, read from a real console log of the lab's cold boot, cut where a
boot can stop."""

import time

from tests.support import DATA
from xenaccept import console

BOOT = DATA / "lab_serial-log_cold-boot.txt"


def lines_until(marker: str, extra: int = 0) -> list[str]:
    lines = console.clean(BOOT.read_text(errors="replace"))
    i = next(n for n, ln in enumerate(lines) if marker in ln)
    return lines[: i + 1 + extra]


def test_a_whole_boot_reached_the_login_prompt():
    lines = console.clean(BOOT.read_text(errors="replace"))
    assert console.stage(lines) == "Dom0's login prompt"
    assert console.tail(lines, 1) == ["xenlab-dom0 login: "]
    assert not any("\x1b" in ln for ln in lines)  # GRUB's terminal escapes are gone


def test_each_stage_where_a_boot_can_stop():
    assert console.stage([]) == "before the firmware printed anything"
    assert console.stage(lines_until("GNU GRUB")) == "GRUB"
    assert console.stage(lines_until("(XEN) Xen version")) == "Xen"
    assert console.stage(lines_until("*** Building a PV Dom0 ***")) == "Xen building Dom0"
    # the hang a newcomer met: the console stopped 6.6 s into Dom0's kernel
    kernel = lines_until("sched_clock: Marking stable")
    assert console.stage(kernel).startswith("Dom0's kernel, "), console.stage(kernel)
    assert console.stage(kernel).endswith(" s into its boot")
    assert console.stage(lines_until("Welcome to ")) == "Dom0's userspace (systemd)"


def test_silence_counts_from_the_last_byte_written(tmp_path):
    log = tmp_path / "console.log"
    log.write_text("(XEN) Xen version 4.17\n")
    s = console.Silence(log)
    time.sleep(0.3)
    assert s.seconds() >= 0.3
    with log.open("a") as f:
        f.write("[    1.000000] Linux version 6.1.0\n")
    assert s.seconds() < 0.1
    stage, last = s.where()
    assert stage == "Dom0's kernel, 1.0 s into its boot" and last[-1].startswith("[    1.0")
