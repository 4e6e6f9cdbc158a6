"""What a host can tell and do, over a runner: PCI devices, the xl toolstack and xenstore,
bridges, processes, the kernel, the hotplug side, and the defaults a target takes from its
host."""
