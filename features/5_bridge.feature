@driver_domain @provision
Feature: 5. A bridge in the driver domain joins the NIC and the guests
  The driver domain makes a Linux bridge (xenbr0 by default) and enslaves the passed-through
  NIC; the guests' vifs join it as they are plugged. The bridge takes the NIC's MAC address
  and IP configuration, so the driver domain stays reachable through it.

  Works means: the bridge exists and its operstate is up. The NIC is a port of it (sysfs
  brif). The port is administratively up and has carrier, and its STP state is
  forwarding.
  Present but broken: the NIC enslaved with no carrier (cable, switch port), the port
  disabled or blocking. The message names the one it finds. On
  the lab the driver domain is reached through this NIC, so a fault here also cuts the
  suite's way to it. Such faults show as the driver domain being unreachable.

  Scenario: The passed-through NIC is a port of the bridge
    Given the bridge is up in the driver domain
    Then the bridge exists in the driver domain and is up
    And the passed-through NIC is enslaved to the bridge
    And the NIC's bridge port is forwarding
