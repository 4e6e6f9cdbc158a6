@guest @provision @lan
Feature: 7 (LAN). The guests reach the LAN through the driver domain and its NIC
  The service the setup exists for: a guest's frames leave through the passed-through NIC,
  the LAN's answers come back to it, full-size frames get through, and bulk data arrives
  intact both ways. The suite's guests take their address from the LAN's DHCP server
  (dhclient, taken from Dom0 like the rest of their payload), or the static one the
  inventory gives (`lan.addresses`, `lan.gateway`). Each runs a small agent: it publishes
  its lease in its own xenstore directory (data/xenaccept/lan/) and answers the suite's
  probe asked there (data/xenaccept/request), so Dom0 reads everything and no guest is
  logged into. Check mode asks too: a probe is a message to the suite's own guest, like a
  ping; nothing of the hosts' configuration changes. It asks at the run's first scenario,
  so the guests probe while the hosts are read, and these scenarios read the answers. The TCP peer (`lan.peer`) is the
  suite's own server on this machine, as the guests reach it on the LAN (the lab's LAN
  relays it to loopback). `lan: none` in the inventory skips these scenarios, saying so;
  so do guests of the operator's own (the suite does not log into them).

  Works means: every guest holds a LAN address, with the DHCP server that leased it and the
  gateway it named. It sends 20 pings of its full MTU (1472 bytes of payload at MTU 1500)
  with DF set to the gateway, 20 ms apart, and 5 small ones beside them, and gets every
  answer. It sends 512 KiB (`lan.bytes`) of random data to the LAN peer over TCP and receives as much back, enough
  to go through segmentation offload, with sha256 equal at both ends. The throughput each
  way is recorded in facts.json; with --baseline a drop of more than 30% is a regression.
  Present but broken, and what the message names from a read of every hop (the guest's
  address and MTU, its vif, the bridge and each port's settings, the driver domain's
  netfilter, the NIC and its counters):
  - an MTU below the guest's on its vif or the NIC: small frames pass, full-size ones are
    dropped (bulk transfers stall);
  - a firewall on the bridged path: br_netfilter with a FORWARD policy of DROP (as Docker
    leaves it), or an nft bridge chain that drops;
  - the bridge keeping frames from the guest's port: ports isolated, learning and
    flooding off, VLAN filtering without the guest's VLAN, a static entry sending the
    guest's MAC elsewhere, a queue too short for a full-size frame;
  - where the frames stopped, from the counters: reached the vif, left through the NIC,
    answers came in, answers delivered to the vif.

  Scenario: Every guest takes its LAN address through the driver domain
    Given the guests are running
    Then every guest holds an address on the LAN

  Scenario: Every guest reaches the LAN's gateway and back with full-size frames
    Given the guests are running
    Then every guest's full-size pings to the gateway are all answered

  Scenario: Every guest moves bulk data both ways with a LAN peer, intact
    Given the guests are running
    Then every guest's bulk TCP with the LAN peer arrives intact both ways
