@guest @provision
Feature: 7. Traffic flows from the guests through the driver domain
  Beyond the plumbing: frames sent by a guest cross netfront, netback and the bridge. The
  bridge learns the source MAC of every frame on the port it came in on, so each guest's MAC
  in the bridge's forwarding database, on that guest's vif, proves its traffic arrived.

  Scenario: The bridge learns every guest's MAC address on its vif
    Given the guests are running
    Then the bridge learns every guest's MAC address on that guest's vif
