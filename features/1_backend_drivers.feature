@dom0
Feature: 1. The backend drivers exist
  Xen splits a device driver in two: a frontend in the domain that uses the device and a
  backend in the domain that owns it. Dom0 needs xen-pciback (the PCI backend) to take a PCI
  device away from its native driver and hand it to another domain; the driver domain needs
  xen-netback (the network backend) to serve the virtual NICs of the guests. Either may be
  built into the kernel (=y) or be a module (=m).

  Works means: the option is =y or =m in the running kernel's build config, modinfo finds
  the module for the running kernel, and no modprobe rule keeps it from loading.
  Present but broken: a `blacklist xen-pciback` (udev loads drivers by alias) or an
  `install xen-pciback /bin/false` in /etc/modprobe.d. A module loaded now stays loaded,
  so nothing fails today; the next boot comes up without the backend. `modprobe -c` shows
  such rules, read-only. Not seen: a module file that is present but damaged. Only
  loading it would tell, and this checkpoint loads nothing.

  Scenario: Dom0's kernel provides the PCI backend, xen-pciback
    Given the Dom0 of the target
    Then Dom0's kernel is built with XEN_PCIDEV_BACKEND as built-in or module
    And the module xen-pciback is available to Dom0's kernel and nothing keeps it from loading

  @driver_domain @provision
  Scenario: The driver domain's kernel provides the network backend, xen-netback
    Given the driver domain is running
    Then the driver domain's kernel is built with XEN_NETDEV_BACKEND as built-in or module
    And the module xen-netback is available to the driver domain's kernel and nothing keeps it from loading
