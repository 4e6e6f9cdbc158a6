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
  The restore puts every file back byte for byte and reboots Dom0 again.
  Without --persist this scenario is skipped; in check mode it checks a permanent setup
  left with `--provision --persist --keep`.

  Scenario: The setup comes back after the host reboots
    Given the setup is made permanent and the host rebooted
    Then Dom0 runs a boot started after the setup was made permanent
    And the device was hidden by Dom0's boot command line, not by xl
    And the driver domain and the guests were started at boot by xenaccept-domains.service
    And xl devd and the bridge came up from the driver domain's own config
