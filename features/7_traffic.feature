@guest @provision
Feature: 7. Traffic flows from the guests through the driver domain
  Beyond the plumbing: frames sent by a guest cross netfront, netback and the bridge. The
  bridge learns the source MAC of every frame on the port it came in on, so each guest's MAC
  in the bridge's forwarding database, on that guest's vif, proves its traffic arrived.
  The way back: the driver domain pings each guest across the bridge, at the IPv6
  link-local address the guest's kernel derives from its MAC; replies prove frames flow
  both ways, with no address on the LAN and no DHCP. (The suite's own guests ping the
  bridge once a second; guests of your own must answer ICMPv6 echo on their link, at the
  EUI-64 address: a guest with stable-privacy addresses, NetworkManager's default, has
  none there.)

  Works means: each guest's MAC is in the bridge's forwarding database on that guest's
  vif, refreshed by a frame of the last 5 seconds (`bridge -s fdb`). A guest found running
  is given 10 s to send one, a guest just started a minute. A guest found silent is asked
  for a frame: the driver domain pings it once, and the frame of its answer must refresh
  its entry. And each guest answers the driver domain's ping.
  Present but broken: an entry outlives the traffic that made it by up to 300 s (the
  bridge's ageing time). So a guest that stopped sending, a paused guest, or a port whose
  learning was switched off still shows its MAC for minutes. Only the age of the entry
  tells. When a guest does not answer, the message says what Dom0 and the bridge show: the
  guest paused, the port's state, the bridge without an IPv6 link-local address, and
  whether the guest answered when asked for a frame.

  Scenario: The bridge learns every guest's MAC address on its vif
    Given the guests are running
    Then the bridge learns every guest's MAC address on that guest's vif

  Scenario: The driver domain reaches every guest across the bridge
    Given the guests are running
    Then the driver domain reaches every guest across the bridge
