@guest @provision
Feature: 6. Guests get their network from the driver domain
  A guest names its network backend in its vif:
  vif = [ 'mac=...,bridge=xenbr0,backend=<driver domain>' ]. Its backend interface appears
  in the driver domain as vif<domid>.<devid> and is enslaved to the bridge. Membership is read
  exactly, from sysfs and `bridge -j link`: vif1.1 is not vif1.10.

  Scenario: Every guest's vif is served by the driver domain
    Given the guests are running
    Then every guest has a vif whose backend is the driver domain
    And every guest's backend interface is enslaved to the bridge and forwarding
