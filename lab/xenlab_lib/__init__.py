"""xenlab: a Debian bookworm Xen 4.17 host under QEMU TCG, for the acceptance suite."""
