@dom0 @provision
Feature: 2. The PCI device is hidden from Dom0
  Before a PCI device can be passed through, Dom0 must let go of it: either at boot, with
  xen-pciback.hide=(BDF) on Dom0's kernel command line (xen-pciback must then load before
  the native driver: put it in the initramfs), or at run time with
  `xl pci-assignable-add BDF`, which unbinds the native driver, binds pciback and remembers
  the native driver so that `xl pci-assignable-remove -r BDF` can give the device back.

  Works means: the hide is recorded (the boot command line or xl's xenstore record), the
  sysfs driver link points to pciback, pciback lists the device in its slots, Dom0 has no
  network interface on it, and xl offers it (assignable) or has passed it to the driver
  domain. Present but broken: bound to pciback with no record of how it got there. No
  reboot or `xl pci-assignable-remove` would then bring it back as expected. Dom0 also
  still holding an interface on the device counts as broken.

  Scenario: The device belongs to pciback, not to its native driver
    Given the device is hidden from Dom0
    Then Dom0 hides the device by its boot command line or through xl pci-assignable-add
    And the device is bound to pciback in sysfs
    And pciback lists the device in its slots
    And no native driver holds the device in Dom0
    And the toolstack offers the device for passthrough or has passed it to the driver domain
