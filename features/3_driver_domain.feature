@driver_domain @provision
Feature: 3. A PV domain that owns the NIC is the driver domain
  The driver domain is an ordinary PV guest, booted with the same kernel as Dom0, whose xl
  config passes the device through with pci = [ 'BDF' ] and declares driver_domain = 1
  (so that libxl lets it serve backends). Inside it the NIC is a PCI device like any other,
  on a virtual bus (pcifront), driven by its native driver.

  Works means: the config passes the device and declares driver_domain = 1. The kernel,
  ramdisk and disks it boots from exist in Dom0. xl pci-list shows the device attached.
  Dom0's PCI backend and the domain's pcifront are Connected in xenstore (state 4). Inside
  the domain, lspci shows the device, its native driver is bound, and it is a network
  interface.
  Present but broken:
  - a config naming a kernel or an image that is gone (an upgrade removed the old
    kernel). The domain runs now and does not start again;
  - a device attached by xl that pcifront never connected: xl pci-list shows it, lspci
    inside does not. The message gives the backend's xenstore state.

  Scenario: The driver domain's config passes the device through
    Given the driver domain is running
    Then the driver domain's xl config passes the device with pci = [ 'BDF' ]
    And the driver domain's xl config sets driver_domain = 1
    And the kernel, ramdisk and disks the config boots from exist in Dom0
    And xl pci-list shows the device attached to the driver domain
    And Dom0's PCI backend and the driver domain's pcifront are connected

  Scenario: The driver domain runs the same kernel as Dom0
    Given the driver domain is running
    Then the driver domain runs the same kernel release as Dom0

  Scenario: The driver domain sees the device and drives it natively
    Given the driver domain is running
    Then lspci in the driver domain shows the device with the vendor:device ID seen in Dom0
    And the native driver is bound to the device in the driver domain
    And the device is a network interface of the driver domain
