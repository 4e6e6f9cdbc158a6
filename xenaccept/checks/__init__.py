"""The checkpoints, as functions of a :class:`~xenaccept.checks.context.Context` (the
target and its hosts: a :class:`~xenaccept.provision.Setup` is one), one module a
checkpoint (as the feature files go).

Each one reads the hosts and raises :class:`~xenaccept.errors.CheckFailed` naming what was
expected and what was found, and where the thing is or what state it is in. None of them
changes anything: they run the same in check and provision mode.
"""

from xenaccept.checks.bridge import bridge_up, enslaved, forwarding
from xenaccept.checks.device import (bound_to_pciback, hidden_how, in_pciback_slots,
                                     no_native_driver, offered_for_passthrough)
from xenaccept.checks.driver_domain import (config_boot_files, config_is_driver_domain,
                                            config_passes_device, device_attached,
                                            device_in_driver_domain, device_netdev,
                                            driver_domain_config, native_driver_bound,
                                            pci_backend_connected, same_kernel)
from xenaccept.checks.drivers import kernel_option, module_available
from xenaccept.checks.guests import (FRESH, backend_connected, dom0_toolstack_works,
                                     every_guest, guest_answers_ping, guest_vif, mac_learned,
                                     mac_learned_within, served_vif, unplugged, vif_connected)
from xenaccept.checks.hotplug import devd_alive, hotplug_scripts, hotplug_scripts_parse, one_devd
from xenaccept.checks.reboot import (booted_after_persist, driver_domain_own_config, hidden_at_boot,
                                     persistent_setup_present, started_at_boot)

__all__ = [
    "FRESH", "backend_connected", "booted_after_persist", "bound_to_pciback", "bridge_up",
    "config_boot_files", "config_is_driver_domain", "config_passes_device", "devd_alive",
    "device_attached", "device_in_driver_domain", "device_netdev", "dom0_toolstack_works",
    "driver_domain_config", "driver_domain_own_config", "enslaved", "every_guest", "forwarding",
    "guest_answers_ping", "guest_vif", "hidden_at_boot", "hidden_how", "hotplug_scripts",
    "hotplug_scripts_parse", "in_pciback_slots", "kernel_option", "mac_learned",
    "mac_learned_within", "module_available", "native_driver_bound", "no_native_driver",
    "offered_for_passthrough", "one_devd", "pci_backend_connected", "persistent_setup_present",
    "same_kernel", "served_vif", "started_at_boot", "unplugged", "vif_connected",
]
