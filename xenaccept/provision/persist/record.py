"""What ``--persist`` changed in Dom0 (a record kept in the work dir, so that a later
``teardown`` can undo it too), and the byte-exact undo of the boot files."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from xenaccept.names import BOOT_BACKUP, DOMAINS_UNIT, PERSIST_FILES, PERSIST_RECORD
from xenaccept.transport.runner import Runner

GENERATED_GLOB = "/boot/grub/grub.cfg /boot/initrd.img-*"
# the processes of update-initramfs and update-grub (names as the kernel keeps them: 15 chars)
UPDATERS = "'update-initramf|mkinitramfs|update-grub|grub-mkconfig'"
UPDATE_TIMEOUT = 1200.0     # update-initramfs for every kernel, then update-grub (TCG: ~2 min)
@dataclass
class Record:
    """What the persistent mode changed in Dom0 (kept in the work dir as JSON, so that a
    later ``teardown`` of a kept setup can undo it too)."""

    bdf: str
    files: list[str] = field(default_factory=list)          # the suite's own config files
    generated: dict[str, str] = field(default_factory=dict)  # path -> sha256 as the suite left it
    backups: dict[str, str] = field(default_factory=dict)    # path -> its copy from before

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Record:
        return cls(**json.loads(text))


def hashes(runner: Runner) -> dict[str, str]:
    """sha256 of the files update-grub and update-initramfs regenerate."""
    r = runner.run("sh", "-c", f"sha256sum {GENERATED_GLOB} 2>/dev/null; true", timeout=120)
    out = {}
    for line in r.stdout.splitlines():
        digest, _, path = line.partition("  ")
        if path:
            out[path] = digest
    return out


def unsupported(runner: Runner) -> str | None:
    """Why this Dom0 cannot be made permanent the suite's way (None when it can)."""
    r = runner.run("sh", "-c", (
        "for c in update-grub update-initramfs systemctl; do command -v $c >/dev/null || "
        "echo \"no $c\"; done; [ -f /boot/grub/grub.cfg ] || echo 'no /boot/grub/grub.cfg'; "
        "[ -d /etc/initramfs-tools/hooks ] || echo 'no /etc/initramfs-tools/hooks'; true"))
    missing = [m for m in r.stdout.splitlines() if m.strip()]
    if missing:
        return ("--persist makes the setup permanent through GRUB (update-grub) and "
                "initramfs-tools, as on Debian and Ubuntu; this Dom0 has " + ", ".join(missing))
    return None


def save(runner: Runner, record: Record) -> None:
    runner.write_file(PERSIST_RECORD, record.to_json(), mode="0600")


def load(runner: Runner) -> Record | None:
    r = runner.run("cat", PERSIST_RECORD)
    return Record.from_json(r.stdout) if r.ok and r.stdout.strip() else None


def remove_files(runner: Runner, record: Record) -> None:
    """The suite's own files gone (the autostart unit disabled first)."""
    runner.run("sh", "-c", f"systemctl disable --quiet {DOMAINS_UNIT} 2>/dev/null; "
               'rm -f "$@"; systemctl daemon-reload', "sh", *record.files,
               mutates=True, check=True)


def restore_generated(runner: Runner, record: Record,
                      log: Callable[[str], None] = print) -> None:
    """Each regenerated file back from its copy when the suite's own update was the last to
    write it (what it made, or an update it left unfinished: an interrupted run); else
    (regenerated since, as by a kernel upgrade) made again without the suite's files. An
    update the run started and left is let finish first: it would write after us."""
    runner.run("sh", "-c", f"n=0; while pgrep {UPDATERS} >/dev/null; do n=$((n+1)); "
               "[ $n -lt 900 ] || exit 1; sleep 1; done", timeout=UPDATE_TIMEOUT, check=True)
    now = hashes(runner)
    regen_initrd: list[str] = []
    regen_grub = False
    for path, backup in record.backups.items():
        made = record.generated.get(path)
        if made is None or now.get(path) == made:
            runner.run("cp", "-a", backup, path, mutates=True, check=True, timeout=300)
        elif path.endswith("grub.cfg"):
            regen_grub = True
        elif version := initrd_version(path):
            regen_initrd.append(version)
    for path in set(now) - set(record.backups):  # a kernel installed since: its initrd
        if version := initrd_version(path):
            regen_initrd.append(version)
    for version in regen_initrd:
        log(f"{version}'s initramfs changed since the suite made it: made again")
        runner.run("update-initramfs", "-u", "-k", version, mutates=True, check=True,
                   timeout=UPDATE_TIMEOUT)
    if regen_grub or regen_initrd:
        runner.run("update-grub", mutates=True, check=True, timeout=UPDATE_TIMEOUT)
    runner.run("sync", mutates=True, check=True)


def initrd_version(path: str) -> str | None:
    """The kernel release of /boot/initrd.img-<release>; None for update-initramfs's own
    side files (its .dpkg-bak copy, a .new left half-written)."""
    _, sep, version = path.rpartition("/initrd.img-")
    if not sep or version.endswith((".dpkg-bak", ".new", ".bak", ".old")):
        return None
    return version


def manual_undo(bdf: str) -> str:
    """How to undo the persistent mode by hand (said when the host does not come back)."""
    return ("To undo by hand in Dom0: rm -f " + " ".join(PERSIST_FILES) +
            f"; systemctl disable {DOMAINS_UNIT}; update-initramfs -u -k all; update-grub; "
            f"then reboot (copies of the boot files from before are in {BOOT_BACKUP}; "
            f"the device {bdf} is hidden at boot until then)")
