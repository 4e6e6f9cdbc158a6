"""``xenaccept teardown``: remove what a ``--keep`` run left up, from what it wrote (only
domains whose config this suite wrote), and give the device back."""

from __future__ import annotations

import sys
from collections.abc import Callable

from xenaccept.errors import XenAcceptError
from xenaccept.model import inventory, state
from xenaccept.provision import Setup, reach
from xenaccept.resources.xl import Xl
from xenaccept.transport.ssh import SSHRunner


def _prefixed(name: str) -> Callable[[str], None]:
    """A log that prints each line after the target's name."""
    def log(message: str) -> None:
        print(f"[{name}] {message}")
    return log


def run(path: str | None) -> int:
    """Adopt and restore each target of the inventory at ``path`` (the lab's by default);
    0 when every one was restored cleanly."""
    status = 0
    try:
        for target in inventory.load(path or inventory.lab_inventory()):
            dom0 = SSHRunner("dom0", target.dom0, read_only=False)
            drvdom = SSHRunner(target.driver_domain.name, state.driver_domain_spec(target),
                               read_only=False)
            dom = Xl(dom0).domain(target.driver_domain.name) \
                if target.driver_domain.published else None
            if dom is not None:  # reached where it says (the inventory gives no address)
                reach.place(drvdom, target, dom0, dom.domid)
            setup = Setup(target, dom0, drvdom, provision=True, log=_prefixed(target.name))
            if not setup.adopt_kept():
                print(f"[{target.name}] nothing left by the suite")
            problems = setup.restore()
            for problem in problems:
                print(f"[{target.name}] PROBLEM: {problem}", file=sys.stderr)
            status |= bool(problems)
            if not problems and target.driver_domain.built:
                state.keys_for(target.name).forget()  # the domain they opened is gone
            dom0.close()
    except XenAcceptError as e:
        print(f"xenaccept: {e}", file=sys.stderr)
        return 2
    return status
