#!/bin/bash
# The acceptance suite's sequence on the lab, by hand, with timings (see README.md,
# "What the suite does on the lab"). Needs a lab that is up: lab/xenlab up [--hide-at-boot].
# Leaves drvdom, guest1 and guest2 running; tear down with:
#   lab/xenlab ssh dom0 -- 'xl destroy guest1; xl destroy guest2; xl destroy drvdom;
#                           xl pci-assignable-remove -r 0000:00:05.0'
X=$(dirname "$(realpath "$0")")/xenlab
t0=$EPOCHREALTIME
ts() { awk -v a="$t0" -v b="$EPOCHREALTIME" -v m="$*" 'BEGIN { printf "[%6.1fs] %s\n", b - a, m }'; }
d0() { "$X" ssh dom0 --timeout 200 -- "$@"; }
dd() { "$X" ssh drvdom --timeout 200 -- "$@"; }
poll() { # poll DESC DEADLINE_S CMD...
  local desc=$1 end=$(( $(date +%s) + $2 )); shift 2
  until "$@" >/dev/null 2>&1 </dev/null; do
    if [ "$(date +%s)" -ge $end ]; then ts "TIMEOUT: $desc"; return 1; fi; sleep 3
  done; ts "ok: $desc"; }
K=$(d0 uname -r </dev/null)
DRV=$(d0 "readlink /sys/bus/pci/devices/0000:00:05.0/driver" </dev/null)
ts "kernel $K, 0000:00:05.0 driver: $DRV"
if [[ $DRV != *pciback ]]; then d0 xl pci-assignable-add 0000:00:05.0 </dev/null; ts "pci-assignable-add rc=$?"; fi
d0 "cat > /etc/xen/drvdom.cfg" <<CFG
name = "drvdom"
kernel = "/boot/vmlinuz-$K"
ramdisk = "/boot/initrd.img-$K"
extra = "root=/dev/xvda rw console=hvc0 net.ifnames=0"
memory = 1024
vcpus = 1
disk = [ 'phy:/dev/vdb,xvda,w' ]
pci = [ '0000:00:05.0' ]
driver_domain = 1
CFG
d0 xl create /etc/xen/drvdom.cfg </dev/null; ts "xl create drvdom rc=$?"
poll "driver domain SSH" 400 dd true || exit 1
dd "lspci -nnk | grep -A3 Ethernet; ip -br a" </dev/null
# the real xl, not Debian's wrapper: /usr/lib/xen-4.17/bin/xl (bookworm), xen-4.20 (trixie)
dd 'systemd-run --unit=xl-devd $(ls /usr/lib/xen-*/bin/xl | tail -n 1) devd -F' </dev/null; ts "xl devd started rc=$?"
# detached (the SSH session runs over eth0); dhclient -d stays the unit's main process:
# a daemonizing dhclient would be killed with the transient unit's cgroup
dd "systemd-run --unit=xenlab-bridge sh -c 'mac=\$(cat /sys/class/net/eth0/address); ip link add xenbr0 address \$mac type bridge forward_delay 0 stp_state 0; ip link set xenbr0 up; dhclient -x -pf /run/dhclient.eth0.pid eth0; ip addr flush dev eth0; ip link set eth0 master xenbr0; exec dhclient -d -pf /run/dhclient.xenbr0.pid -lf /var/lib/dhcp/dhclient.xenbr0.leases xenbr0'" </dev/null
ts "bridge unit started rc=$?"
poll "driver domain SSH after the bridge" 200 dd "ip -4 -br a show xenbr0 | grep -q 10.0.2" || exit 1
dd "ip -br a; bridge link" </dev/null
for i in 1 2; do
d0 "cat > /etc/xen/guest$i.cfg" <<CFG
name = "guest$i"
kernel = "/boot/vmlinuz-$K"
ramdisk = "/boot/initrd.img-$K"
extra = "console=hvc0 net.ifnames=0 xenlab.guestnet=1 break=mount"
memory = 512
vcpus = 1
vif = [ 'mac=00:16:3e:5a:00:0$i,bridge=xenbr0,backend=drvdom' ]
CFG
d0 xl create /etc/xen/guest$i.cfg </dev/null; ts "xl create guest$i rc=$?"
done
poll "two vifs on xenbr0" 300 dd "[ \$(ls /sys/class/net/xenbr0/brif | grep -c ^vif) -ge 2 ]"
poll "guest1 MAC in fdb" 300 dd "bridge fdb show br xenbr0 | grep -q 00:16:3e:5a:00:01"
poll "guest2 MAC in fdb" 300 dd "bridge fdb show br xenbr0 | grep -q 00:16:3e:5a:00:02"
dd "brctl show; bridge fdb show br xenbr0 | grep 00:16:3e" </dev/null
d0 "xl list; grep -a 'address:' /var/log/xen/console/guest-guest*.log" </dev/null
ts "done"
