"""Images the suite makes in Dom0 from Dom0's own system: the driver domain's disk and
initramfs, the guests' payload."""
