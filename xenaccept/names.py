"""Every name the suite owns on a host, defined once: the marker its files carry, its work
directory in Dom0, its lock, its systemd units and the files ``--persist`` writes.

Nothing here runs anything; every other module takes these names from here.
"""

from __future__ import annotations

# the first line of every file the suite writes (an xl config, a unit, a drop-in): what
# `teardown` and the refusal to overwrite an operator's file look for
MARKER = "# written by xenaccept"

# Dom0: the suite's work directory (images, notes, the boot files' copies)
WORK = "/var/lib/xenaccept"
PCIBACK_LOADED = f"{WORK}/loaded-xen-pciback"   # xen-pciback was loaded by the suite
GUEST_PAYLOAD_DIR = f"{WORK}/guest"
BOOT_BACKUP = f"{WORK}/boot-backup"
PERSIST_RECORD = f"{WORK}/persist.json"
AUTOSTART = f"{WORK}/autostart"

# Dom0: one run at a time (a tmpfs, gone at reboot)
LOCK_FILE = "/run/lock/xenaccept.lock"

# Dom0, --persist: the boot-time hide and the domains started at boot. The GRUB drop-in is
# sourced after every other one (they are read in name order), so that it extends the
# command line they set.
GRUB_DROPIN = "/etc/default/grub.d/zz-xenaccept.cfg"
INITRAMFS_HOOK = "/etc/initramfs-tools/hooks/xenaccept-pciback"
MODPROBE_CONF = "/etc/modprobe.d/xenaccept-pciback.conf"
DOMAINS_UNIT = "xenaccept-domains.service"
DOMAINS_UNIT_PATH = f"/etc/systemd/system/{DOMAINS_UNIT}"
# ... and, when the suite built the driver domain, the kernel's hooks that make its boot
# files for each kernel apt installs (and remove them with the kernel)
KERNEL_HOOKS = ("/etc/kernel/postinst.d/xenaccept-driver-domain",
                "/etc/kernel/postrm.d/xenaccept-driver-domain")
PERSIST_FILES = (GRUB_DROPIN, INITRAMFS_HOOK, MODPROBE_CONF, DOMAINS_UNIT_PATH, *KERNEL_HOOKS)
# where Debian's xendomains saves every domain it still finds at shutdown (XENDOMAINS_SAVE),
# to restore it at boot: none of the suite's may be there
XENDOMAINS_SAVE = "/var/lib/xen/save"

# the driver domain: the unit that runs `xl devd`. At run time the suite starts it as a
# transient unit; made permanent, the driver domain's own disk has a unit file for it.
# Both are read for its journal.
DEVD_UNIT_RUNTIME = "xenaccept-xldevd"
DEVD_UNIT_PERSISTENT = "xenaccept-devd.service"
DEVD_UNITS = (DEVD_UNIT_RUNTIME, DEVD_UNIT_PERSISTENT)
READY_UNIT = "xenaccept-ready.service"     # tells Dom0 the bridge and xl devd are up
READY_KEY = "data/xenaccept-ready"          # ... in the driver domain's own xenstore data/
# a driver domain the suite builds says, once its SSH server listens and it holds an IPv4
# address, that address, in its own xenstore data/ (as guest agents publish theirs): Dom0
# watches it rather than the suite polling SSH
ADDRESS_UNIT = "xenaccept-address.service"
ADDRESS_SCRIPT = "/usr/local/sbin/xenaccept-address"
ADDRESS_KEY = "data/xenaccept/ssh-address"


def bridge_unit(bridge: str) -> str:
    """The transient unit that makes ``bridge`` in the driver domain (at run time)."""
    return f"xenaccept-bridge-{bridge}"


def unbridge_unit(bridge: str) -> str:
    """The transient unit that takes ``bridge`` away again."""
    return f"xenaccept-unbridge-{bridge}"


def networkd_file(bridge: str, kind: str) -> str:
    """The driver domain's systemd-networkd files of the permanent bridge: ``kind`` is
    ``.netdev``, ``-port.network`` (the NIC) or ``.network`` (the bridge's addresses)."""
    return f"/etc/systemd/network/10-xenaccept-{bridge}{kind}"
