@guest @provision
Feature: 7. Traffic flows from the guests through the driver domain
  Beyond the plumbing: frames sent by a guest cross netfront, netback and the bridge. The
  bridge learns the source MAC of every frame on the port it came in on, so each guest's MAC
  in the bridge's forwarding database, on that guest's vif, proves its traffic arrived.
  The way back: the driver domain pings each guest across the bridge, at the IPv6
  link-local address the guest's kernel derives from its MAC; replies prove frames flow
  both ways, with no address on the LAN and no DHCP. (The suite's own guests ping the
  bridge once a second; guests of your own must answer ICMPv6 echo on their link.)

  Scenario: The bridge learns every guest's MAC address on its vif
    Given the guests are running
    Then the bridge learns every guest's MAC address on that guest's vif

  Scenario: The driver domain reaches every guest across the bridge
    Given the guests are running
    Then the driver domain reaches every guest across the bridge
