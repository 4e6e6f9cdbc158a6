@driver_domain @provision
Feature: 4. The driver domain can plug virtual interfaces
  When a guest starts, its vif backend is created in the driver domain, not in Dom0. The
  toolstack's backend daemon `xl devd` must run there to notice it and call the hotplug
  script /etc/xen/scripts/vif-bridge, which puts the new vif<domid>.<devid> on the bridge.
  Since Xen 4.5 there is no network-bridge script: the bridge is made by the OS.

  Scenario: The vif hotplug scripts are installed in the driver domain
    Given the driver domain is running
    Then "vif-bridge" is executable and every helper it sources is present in the driver domain

  Scenario: The backend daemon xl devd runs in the driver domain
    Given xl devd runs in the driver domain
    Then exactly one xl devd process runs in the driver domain
