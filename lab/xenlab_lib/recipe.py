"""Everything that shapes the images. The text of this file is part of the image hash:
edit anything here and the next `build` makes new images (old ones stay until removed)."""
from __future__ import annotations

SUITE = "bookworm"
MIRROR = "http://deb.debian.org/debian"
IMAGE_SIZE = "4G"

# debootstrap --variant=minbase --include=...
PACKAGES = [
    "linux-image-amd64", "xen-system-amd64", "openssh-server", "iproute2", "bridge-utils",
    "pciutils", "ifupdown", "isc-dhcp-client", "kmod", "udev", "systemd-sysv",
    "procps", "iputils-ping",
]

# Run in the chroot of the shared rootfs (both images), as /bin/sh -es.
COMMON_SCRIPT = r'''
# --- sshd: root by key only, a single ed25519 host key (generated per image by xenlab)
rm -f /etc/ssh/ssh_host_*
cat > /etc/ssh/sshd_config.d/xenlab.conf <<'EOF'
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UseDNS no
HostKey /etc/ssh/ssh_host_ed25519_key
EOF
mkdir -p -m 700 /root/.ssh

# --- network: eth0 by DHCP (kernel names, net.ifnames=0 on the command line)
cat > /etc/network/interfaces <<'EOF'
auto lo
iface lo inet loopback

allow-hotplug eth0
iface eth0 inet dhcp
EOF

# --- boot-time hide must beat e1000: pciback in the initramfs, loaded before e1000
grep -qx xen-pciback /etc/initramfs-tools/modules || echo xen-pciback >> /etc/initramfs-tools/modules
cat > /etc/modprobe.d/xenlab-pciback.conf <<'EOF'
install e1000 /sbin/modprobe xen-pciback; /sbin/modprobe --ignore-install e1000 $CMDLINE_OPTS
EOF

# --- diskless guests: with xenlab.guestnet=1 on the kernel command line the initramfs
#     brings up the netfront NIC, runs DHCP (klibc ipconfig) and renews every 60 s, so
#     the guest's MAC keeps showing in the backend bridge's fdb. Inert without the flag.
cat > /etc/initramfs-tools/hooks/xenlab-guestnet <<'EOF'
#!/bin/sh
case "$1" in prereqs) exit 0;; esac
. /usr/share/initramfs-tools/hook-functions
manual_add_modules xen-netfront
EOF
chmod 755 /etc/initramfs-tools/hooks/xenlab-guestnet
cat > /etc/initramfs-tools/scripts/init-premount/xenlab-guestnet <<'EOF'
#!/bin/sh
case "$1" in prereqs) exit 0;; esac
for arg in $(cat /proc/cmdline); do
    [ "$arg" = xenlab.guestnet=1 ] && on=1
done
[ -n "$on" ] || exit 0
echo "xenlab-guestnet: loading xen-netfront"
modprobe xen-netfront
dev=
n=0
while [ $n -lt 60 ]; do
    for d in /sys/class/net/*; do
        d=${d##*/}
        [ "$d" = lo ] || { dev=$d; break; }
    done
    [ -n "$dev" ] && break
    sleep 1
    n=$((n + 1))
done
echo "xenlab-guestnet: $dev $(cat /sys/class/net/$dev/address 2>/dev/null) - DHCP"
ipconfig -t 30 -c dhcp -d "$dev" || echo "xenlab-guestnet: DHCP failed"
( while :; do sleep 60; ipconfig -t 20 -c dhcp -d "$dev" >/dev/null 2>&1; done ) &
echo "xenlab-guestnet: done, renewing every 60 s in the background"
EOF
chmod 755 /etc/initramfs-tools/scripts/init-premount/xenlab-guestnet

# --- xenconsoled keeps each guest's console in /var/log/xen/console/guest-NAME.log
#     (read by `xenlab faults`; only takes effect in Dom0)
mkdir -p /var/log/xen/console
echo 'XENCONSOLED_ARGS="--log=guest --log-dir=/var/log/xen/console"' >> /etc/default/xen

# --- quiet, deterministic hosts: no periodic jobs in the background
for t in apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer fstrim.timer; do
    systemctl mask "$t" >/dev/null 2>&1 || true
done
echo 'root:*' | chpasswd -e
apt-get clean
rm -rf /var/lib/apt/lists/*
update-initramfs -u -k all
'''

DOM0_MGMT_MAC = "52:54:00:5a:00:03"   # QEMU's virtio-net for Dom0's management

# Dom0 has two NICs and their kernel names (eth0/eth1) follow probe order, which varies
# between boots: DHCP goes to whichever one has the management MAC (ifupdown mapping).
DOM0_INTERFACES = """auto lo
iface lo inet loopback

allow-hotplug eth0 eth1
mapping eth0 eth1
    script /usr/local/sbin/xenlab-ifmap
iface mgmt inet dhcp
"""
DOM0_IFMAP = f"""#!/bin/sh
# ifupdown mapping: the NIC with Dom0's management MAC is configured as "mgmt" (DHCP)
[ "$(cat /sys/class/net/$1/address 2>/dev/null)" = "{DOM0_MGMT_MAC}" ] && echo mgmt
exit 0
"""

# Per image: hostname, root device in its own fstab, extra files (path: (mode, text))
IMAGES = {
    "dom0": {"hostname": "xenlab-dom0", "rootdev": "/dev/vda",
             "files": {"etc/network/interfaces": (0o644, DOM0_INTERFACES),
                       "usr/local/sbin/xenlab-ifmap": (0o755, DOM0_IFMAP)}},
    "drvdom": {"hostname": "drvdom", "rootdev": "/dev/xvda", "files": {}},
}
