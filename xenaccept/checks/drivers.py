"""1. The backend drivers: built into the kernels, found, and free to load."""

from __future__ import annotations

from xenaccept.checks.context import Context
from xenaccept.errors import CheckFailed

BUILT = {"y": "built in", "m": "a module"}


def kernel_option(setup: Context, where: str, option: str) -> str:
    host = setup.dom0 if where == "dom0" else setup.drvdom
    value = host.kernel.config(option)[option]
    if value not in BUILT:
        raise CheckFailed(f"{host.name} kernel {host.kernel.release}",
                          f"CONFIG_{option}=y or =m", f"CONFIG_{option}={value or 'unset'}")
    return BUILT[value]


def module_available(setup: Context, where: str, module: str) -> None:
    """modinfo finds the module (a file, or built in), and no modprobe rule keeps it from
    loading: a ``blacklist`` (udev loads drivers by alias) or an ``install`` command that
    does not load it. Such a rule does not unload a module loaded already: it breaks the
    next boot, which is why it is named even when the module is loaded now."""
    host = setup.dom0 if where == "dom0" else setup.drvdom
    if not host.kernel.module_available(module):
        raise CheckFailed(f"{host.name}", f"modinfo to find {module}",
                          f"no module {module} for kernel {host.kernel.release}")
    blocked = host.kernel.module_blocked(module)
    if blocked:
        loaded = host.kernel.module_loaded(module)
        raise CheckFailed(f"modprobe's configuration in {host.name}",
                          f"no rule keeping {module} from loading",
                          "; ".join(f"`{r}`" for r in blocked) + (
                              f" ({module} is loaded now: it would not load at the next "
                              "boot)" if loaded else f" ({module} is not loaded)"))
