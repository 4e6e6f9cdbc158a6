@persist @provision @guest
Feature: 9. The setup comes back after the host reboots
  After a kernel or Xen upgrade the host reboots, and everything must come back by itself.
  With `--provision --persist` the suite makes the running setup permanent the way an
  operator does, then reboots Dom0 for real and runs every checkpoint on what came back:
  - the hide: `xen-pciback.hide=(BDF)` on Dom0's command line in the Xen boot entries
    (`/etc/default/grub.d/zz-xenaccept.cfg`, then `update-grub`), and xen-pciback in the
    initramfs, loaded before the native driver (an initramfs-tools hook and a modprobe.d
    `softdep`, then `update-initramfs -u -k all`);
  - the domains: `xenaccept-domains.service` creates the driver domain at boot, waits until
    it says its bridge and `xl devd` are up, then creates the guests (not `/etc/xen/auto`:
    Debian's xendomains saves domains at shutdown, which a domain holding a PCI device
    cannot do, and restores guests before their backend runs);
  - inside the driver domain, its own config: systemd-networkd makes the bridge (with the
    NIC's MAC) and enslaves the NIC, `xenaccept-devd.service` runs `xl devd`.
  - a driver domain the suite built follows Dom0's kernels: everything of one kernel (its
    modules, firmware and config) is in the driver domain's initramfs, not in its disk,
    and the kernel's hooks (`/etc/kernel/postinst.d` and `postrm.d`) make one for each
    kernel apt installs, then point its config at the newest, as GRUB's default does.
  The restore puts every file back byte for byte (or makes it again without the suite's
  files, when a kernel upgrade rewrote it since) and reboots Dom0 again.
  Without --persist these scenarios are skipped; in check mode they check a permanent setup
  left with `--provision --persist --keep`.

  The first scenario proves the boot that runs now. The second reads the next one without
  rebooting, so that check mode, run for months on a permanent setup, catches a next boot
  already broken by a change since (an edited GRUB default, a disabled unit, a kernel
  installed without the driver domain's boot files): what GRUB will start (its default,
  `saved_entry` or `grub-reboot`'s `next_entry`), Dom0's line and initramfs in that entry,
  the units, no domain of the setup left in `/var/lib/xen/save` (Debian's xendomains saves
  what it still finds at shutdown and restores it at boot, before the setup's own unit; a
  driver domain holding a PCI device cannot be restored), and the kernel the driver
  domain's config boots. In provision mode the same
  reading is made before the suite reboots, which refuses to reboot into a broken boot.

  Scenario: The setup comes back after the host reboots
    Given the setup is made permanent and the host rebooted
    Then Dom0 runs a boot started after the setup was made permanent
    And the device was hidden by Dom0's boot command line, not by xl
    And the driver domain and the guests were started at boot by xenaccept-domains.service
    And xl devd and the bridge came up from the driver domain's own config

  Scenario: The permanent setup will come back at the next boot
    Given a permanent setup, its next boot read without rebooting
    Then GRUB's default entry boots Xen, with the hide on Dom0's line and every argument it runs with now
    And the initramfs of the kernel that entry boots holds xen-pciback and the softdep before the native driver
    And the units that start the setup at boot are enabled, in Dom0 and in the driver domain's disk
    And the driver domain will boot the kernel Dom0 will boot, from boot files made for it
