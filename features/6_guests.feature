@guest @provision
Feature: 6. Guests get their network from the driver domain
  A guest names its network backend in its vif:
  vif = [ 'mac=...,bridge=xenbr0,backend=<driver domain>' ]. Its backend interface appears
  in the driver domain as vif<domid>.<devid> and is enslaved to the bridge. Membership is read
  exactly, from sysfs and `bridge -j link`: vif1.1 is not vif1.10.

  Works means: xl network-list shows a vif served by the driver domain. Its backend in
  xenstore is Connected (state 4), with hotplug-status connected (vif-bridge ran and
  succeeded). Its interface is a port of the bridge: up, with carrier, and forwarding.
  Present but broken:
  - the vif enslaved while its backend closed (the frontend went away) or never
    connected. The message gives both xenstore states;
  - the vif a port of another bridge. The message names that bridge;
  - the port disabled, or the interface set down.

  Scenario: Every guest's vif is served by the driver domain
    Given the guests are running
    Then every guest has a vif whose backend is the driver domain
    And every guest's vif backend is connected and its hotplug script succeeded
    And every guest's backend interface is enslaved to the bridge and forwarding
