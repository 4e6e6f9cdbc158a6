@isolation @provision @guest
Feature: 8. The driver domain is isolated from Dom0
  The point of a driver domain: the NIC's driver and the network backend run outside Dom0.
  When the driver domain dies (killed while the guests move data, or crashed by its own
  kernel) or is restarted, Dom0 keeps working, the guests run on as the same domains,
  nothing of the dead domain is left in xenstore, and once the driver domain is back the
  guests get their network back, the LAN included (each guest takes its address again and
  its full-size pings to the gateway are all answered; not checked with `lan: none` or
  guests of your own). libxl does not re-create a backend whose domain died: each guest's
  dead vif is detached (`xl network-detach`) and attached again
  (`xl network-attach GUEST mac=...,bridge=xenbr0,backend=<driver domain>`).
  The backend daemon can be down too (stopped, or not yet started at boot) when a guest
  starts: netback makes the guest's vif, but nothing runs its hotplug script, so it is no
  bridge port; `xl devd`, once it runs, must find that vif and plug it.
  These scenarios restart domains: they run with --provision only (skipped in check mode).

  Scenario: Restarting the driver domain while the guests run
    Given the guests are running
    When every guest moves data with the LAN peer, and the driver domain is destroyed under it and created again
    Then Dom0 still answers and its toolstack works
    And nothing of the dead driver domain is left in xenstore
    And every guest runs on as the same domain
    And every guest's backend interface is enslaved to the bridge and forwarding
    And the bridge learns every guest's MAC address on that guest's vif
    And the driver domain reaches every guest across the bridge
    And every guest is back on the LAN

  Scenario: The driver domain's kernel crashes while the guests run
    Given the guests are running
    When the driver domain's kernel crashes (xl sysrq c) and it is created again
    Then Dom0 still answers and its toolstack works
    And nothing of the dead driver domain is left in xenstore
    And every guest runs on as the same domain
    And every guest's backend interface is enslaved to the bridge and forwarding
    And the driver domain reaches every guest across the bridge
    And every guest is back on the LAN

  Scenario: A guest started while xl devd is down is plugged once the daemon runs
    Given the guests are running
    When a guest is started while xl devd is down in the driver domain, then xl devd is started
    Then that guest's backend interface is enslaved to the bridge and forwarding
    And the driver domain reaches every guest across the bridge
    And every guest is back on the LAN
