"""Xen driver-domain knowledge, free of pytest, in layers that import downwards only:

- :mod:`.errors`, :mod:`.names`, :mod:`.console`: the error kinds, every name the suite owns
  on a host, what a boot's serial console says (pure, also read by the lab);
- :mod:`.model`: the inventory (YAML -> dataclasses, validated), the run's keys;
- :mod:`.transport`: runners (local, SSH over hops with host keys verified), the lock, waits;
- :mod:`.resources`: what a host can tell and do (PCI, xl, bridges, kernel, hotplug);
- :mod:`.images`: images made in Dom0 (the driver domain's disk, the guests' payload);
- :mod:`.checks`: the checkpoints, read-only;
- :mod:`.provision`: the stages of the setup, their undo journal, the restore;
- :mod:`.report`: host facts, failure logs, the comparison with a baseline;
- :mod:`.cli`: ``python -m xenaccept`` (init, teardown).
"""
