"""xenlab: a Debian Xen host (bookworm Xen 4.17 by default; see flavours.py) under QEMU TCG,
for the acceptance suite."""
