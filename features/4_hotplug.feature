@driver_domain @provision
Feature: 4. The driver domain can plug virtual interfaces
  When a guest starts, its vif backend is created in the driver domain, not in Dom0. The
  toolstack's backend daemon `xl devd` must run there to notice it and call the hotplug
  script /etc/xen/scripts/vif-bridge, which puts the new vif<domid>.<devid> on the bridge.
  Since Xen 4.5 there is no network-bridge script: the bridge is made by the OS.

  Works means: vif-bridge is executable, every helper it sources (transitively) is present,
  and bash parses them all (`bash -n`, which runs nothing). Exactly one `xl devd` runs,
  and it is not stopped.
  Present but broken:
  - a helper with a syntax error (a bad merge of a local edit after an upgrade). The
    script is there and executable, but it fails at the first vif, and the toolstack waits
    for a hotplug-status that never comes;
  - an `xl devd` that was stopped (SIGSTOP, or a debugger attached). ps still lists it, but
    it handles no event.
  Only plugging a vif proves the whole chain works. The scenario that plugs a test vif and
  unplugs it changes the host, so it runs with --provision only. Check mode skips it and
  says so.

  Scenario: The vif hotplug scripts are installed in the driver domain
    Given the driver domain is running
    Then "vif-bridge" is executable and every helper it sources is present in the driver domain
    And "vif-bridge" and every helper it sources parse without a syntax error

  Scenario: The backend daemon xl devd runs in the driver domain
    Given xl devd runs in the driver domain
    Then exactly one xl devd process runs in the driver domain
    And that xl devd is running, not stopped

  @guest
  Scenario: xl devd plugs a new vif into the bridge and unplugs it
    Given the guests are running
    When a test vif served by the driver domain is plugged into a guest
    Then xl devd ran vif-bridge for it: its backend is connected and it forwards on the bridge
    And unplugged again, it leaves the bridge
