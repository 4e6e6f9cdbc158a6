@driver_domain @provision
Feature: 3. A PV domain that owns the NIC is the driver domain
  The driver domain is an ordinary PV guest, booted with the same kernel as Dom0, whose xl
  config passes the device through with pci = [ 'BDF' ] and declares driver_domain = 1
  (so that libxl lets it serve backends). Inside it the NIC is a PCI device like any other,
  on a virtual bus (pcifront), driven by its native driver.

  Scenario: The driver domain's config passes the device through
    Given the driver domain is running
    Then the driver domain's xl config passes the device with pci = [ 'BDF' ]
    And the driver domain's xl config sets driver_domain = 1
    And xl pci-list shows the device attached to the driver domain

  Scenario: The driver domain runs the same kernel as Dom0
    Given the driver domain is running
    Then the driver domain runs the same kernel release as Dom0

  Scenario: The driver domain sees the device and drives it natively
    Given the driver domain is running
    Then lspci in the driver domain shows the device with the vendor:device ID seen in Dom0
    And the native driver is bound to the device in the driver domain
    And the device is a network interface of the driver domain
