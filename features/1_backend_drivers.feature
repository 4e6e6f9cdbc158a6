@dom0
Feature: 1. The backend drivers exist
  Xen splits a device driver in two: a frontend in the domain that uses the device and a
  backend in the domain that owns it. Dom0 needs xen-pciback (the PCI backend) to take a PCI
  device away from its native driver and hand it to another domain; the driver domain needs
  xen-netback (the network backend) to serve the virtual NICs of the guests. Either may be
  built into the kernel (=y) or be a module (=m).

  Scenario: Dom0's kernel provides the PCI backend, xen-pciback
    Given the Dom0 of the target
    Then Dom0's kernel is built with XEN_PCIDEV_BACKEND as built-in or module
    And the module xen-pciback is available to Dom0's kernel

  @driver_domain @provision
  Scenario: The driver domain's kernel provides the network backend, xen-netback
    Given the driver domain is running
    Then the driver domain's kernel is built with XEN_NETDEV_BACKEND as built-in or module
    And the module xen-netback is available to the driver domain's kernel
