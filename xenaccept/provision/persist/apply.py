"""The running setup made permanent, each change journaled before it is made (through the
:class:`~xenaccept.provision.context.StageContext` of the run)."""

from __future__ import annotations

from xenaccept.images.drvdom_image import boot_files_path, image_dir
from xenaccept.images.personal import network
from xenaccept.errors import HarnessError
from xenaccept.model import validate
from xenaccept.names import (AUTOSTART, BOOT_BACKUP, DEVD_UNIT_PERSISTENT, DOMAINS_UNIT,
                             DOMAINS_UNIT_PATH, GRUB_DROPIN, INITRAMFS_HOOK, KERNEL_HOOKS,
                             MODPROBE_CONF, READY_UNIT)
from xenaccept.provision.context import StageContext
from xenaccept.provision.persist.bootentry import check_default_entry
from xenaccept.provision.persist.record import (UPDATE_TIMEOUT, Record, hashes, remove_files,
                                                restore_generated, save)
from xenaccept.provision.persist.templates import (INITRAMFS_HOOK_TEXT, UNIT_TEXT, autostart_script,
                                                   driver_domain_files, grub_dropin, kernel_hook,
                                                   modprobe_conf)


def write_driver_domain(s: StageContext) -> None:
    """The driver domain brings up its bridge and xl devd by itself at boot from now on
    (its disk is the suite's: removed at restore with the rest)."""
    t = s.target
    dd = t.driver_domain
    runner = s.drvdom.runner
    nic = dd.nic
    mac = validate.mac(runner.out("cat", f"/sys/class/net/{nic}/address").strip(),
                       f"{nic}'s MAC in {dd.name}")
    native = t.device.native_driver
    if native is None:
        raise HarnessError("the device's native driver is not known")
    xl = s.drvdom.hotplug.xl_path()
    if xl is None:
        raise HarnessError(f"no xl in {dd.name}")
    lines = network(dd.address, dd.gateway)
    for path, text in driver_domain_files(t.bridge, nic, mac, native, lines, xl).items():
        runner.write_file(path, text)
    runner.run("systemctl", "enable", "--quiet", DEVD_UNIT_PERSISTENT, READY_UNIT,
               mutates=True, check=True)
    runner.run("sync", mutates=True, check=True)


def write_boot_hide(s: StageContext, record: Record) -> None:
    """The hide made at boot: GRUB's drop-in, xen-pciback in the initramfs before the native
    driver; each change journaled before it is made. Done right after the run-time hide,
    while Dom0 is idle (update-initramfs took over 5 min with the domains up, under TCG).
    A driver domain the suite builds follows Dom0's kernels, and the kernel's hooks that
    make its boot files for each kernel apt installs are written here too: a kernel
    installed from now on (say by unattended-upgrades while the run goes on) gets the hide
    in its initramfs and the driver domain's boot files together."""
    runner = s.dom0.runner
    native = s.target.device.native_driver
    if native is None:
        raise HarnessError("the device's native driver is not known")
    s.work_dir()
    # the files update-grub / update-initramfs will regenerate, copied first
    found = hashes(runner)
    script = ('set -e; bk=$1; shift; mkdir -p -m 0700 "$bk"; '
              'for f; do cp -a "$f" "$bk/${f##*/}"; done')
    runner.run("sh", "-c", script, "sh", BOOT_BACKUP, *found, mutates=True, check=True, timeout=300)
    record.backups = {p: f"{BOOT_BACKUP}/{p.rsplit('/', 1)[1]}" for p in found}
    save(runner, record)
    s.journal.push("put back the boot files update-grub and update-initramfs made "
                   f"({', '.join(found)})", lambda: restore_generated(runner, record, s.log))
    hooks = KERNEL_HOOKS if s.target.driver_domain.built else ()
    record.files = [GRUB_DROPIN, INITRAMFS_HOOK, MODPROBE_CONF, *hooks]
    save(runner, record)
    s.journal.push(f"remove {', '.join(record.files)}", lambda: remove_files(runner, record))
    runner.write_file(GRUB_DROPIN, grub_dropin(s.bdf))
    runner.write_file(INITRAMFS_HOOK, INITRAMFS_HOOK_TEXT, mode="0755")
    runner.write_file(MODPROBE_CONF, modprobe_conf(native, s.bdf))
    script = boot_files_path(image_dir(s.target.driver_domain.name))
    for path in hooks:
        action = "install" if "/postinst.d/" in path else "remove"
        runner.write_file(path, kernel_hook(script, action), mode="0755")
    s.log("update-initramfs -u -k all, then update-grub (about 2 min under emulation)")
    runner.run("update-initramfs", "-u", "-k", "all", mutates=True, check=True,
               timeout=UPDATE_TIMEOUT)
    runner.run("update-grub", mutates=True, check=True, timeout=UPDATE_TIMEOUT)
    runner.run("sync", mutates=True, check=True)
    record.generated = hashes(runner)
    save(runner, record)
    check_default_entry(runner, s.dom0.kernel.cmdline, s.bdf)


def write_autostart(s: StageContext, record: Record) -> None:
    """The domains started at boot: the autostart script and its unit, enabled."""
    runner = s.dom0.runner
    t = s.target
    record.files += [AUTOSTART, DOMAINS_UNIT_PATH]
    save(runner, record)
    s.journal.push(f"disable {DOMAINS_UNIT}; remove it, {AUTOSTART}",
                   lambda: remove_files(runner, record))
    config_of = {n: t.config_path(n) for n in (t.driver_domain.name, *t.guests.names)}
    runner.write_file(AUTOSTART, autostart_script(config_of, t.driver_domain.name,
                                                  list(t.guests.names)), mode="0755")
    runner.write_file(DOMAINS_UNIT_PATH, UNIT_TEXT)
    runner.run("systemctl", "daemon-reload", mutates=True, check=True)
    runner.run("systemctl", "enable", "--quiet", DOMAINS_UNIT, mutates=True, check=True)
    runner.run("sync", mutates=True, check=True)
