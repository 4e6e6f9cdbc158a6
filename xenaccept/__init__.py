"""Xen driver-domain knowledge, free of pytest.

What a Xen host can tell and do, over a :class:`~xenaccept.runner.Runner`: PCI binding
(:mod:`.pci`), the xl toolstack (:mod:`.xl`), bridges (:mod:`.bridge`), kernel facts
(:mod:`.kernel`), the backend daemon and hotplug scripts (:mod:`.hotplug`), and the
provisioning journal that restores a host (:mod:`.provision`).
"""
