@isolation @provision @guest
Feature: 8. The driver domain is isolated from Dom0
  The point of a driver domain: the NIC's driver and the network backend run outside Dom0.
  When the driver domain dies or is restarted, Dom0 keeps working, and once the driver
  domain is back the guests get their network back, the LAN included (each guest takes
  its address again and its full-size pings to the gateway are all answered; not checked
  with `lan: none` or guests of your own). libxl does not re-create a backend whose domain
  died: each guest's dead vif is detached (`xl network-detach`) and attached again
  (`xl network-attach GUEST mac=...,bridge=xenbr0,backend=<driver domain>`).
  This scenario restarts a domain: it runs with --provision only (skipped in check mode).

  Scenario: Restarting the driver domain while the guests run
    Given the guests are running
    When the driver domain is destroyed and created again
    Then Dom0 still answers and its toolstack works
    And every guest's backend interface is enslaved to the bridge and forwarding
    And the bridge learns every guest's MAC address on that guest's vif
    And the driver domain reaches every guest across the bridge
    And every guest is back on the LAN
