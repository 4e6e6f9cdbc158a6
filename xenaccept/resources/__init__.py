"""What a host can tell and do, over a runner: PCI devices, the xl toolstack, bridges, the
kernel, the hotplug side, and the defaults a target takes from its host."""
