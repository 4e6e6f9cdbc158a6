"""``python -m xenaccept teardown [--inventory PATH]``: remove a setup left by ``--keep``.
``python -m xenaccept init HOST [...]``: look at a Xen host (read-only), write an inventory."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable

from . import init, inventory, state
from .errors import XenAcceptError
from .provision import Setup
from .ssh import SSHRunner


def _prefixed(name: str) -> Callable[[str], None]:
    """A log that prints each line after the target's name."""
    def log(message: str) -> None:
        print(f"[{name}] {message}")
    return log


def main(argv: list[str] | None = None) -> int:
    # paramiko logs each failed connection attempt of a wait (a host rebooting) with a
    # traceback: the waits say what they wait for
    logging.getLogger("paramiko").setLevel(logging.CRITICAL)
    p = argparse.ArgumentParser(prog="python -m xenaccept")
    sub = p.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("teardown", help="destroy what a --keep run left up and give the "
                       "device back (only domains whose config this suite wrote)")
    t.add_argument("--inventory", default=None, help="default: the lab's, "
                   "lab/run/$XENLAB_NAME/inventory.yaml (XENLAB_NAME defaults to 'default')")
    init.add_parser(sub)
    a = p.parse_args(argv)
    if a.cmd == "init":
        try:
            return init.run(a, ask=init.interactive_ask())
        except XenAcceptError as e:
            print(f"xenaccept init: {e}", file=sys.stderr)
            return 2
    status = 0
    try:
        for target in inventory.load(a.inventory or inventory.lab_inventory()):
            dom0 = SSHRunner("dom0", target.dom0, read_only=False)
            drvdom = SSHRunner(target.driver_domain.name, state.driver_domain_spec(target),
                               read_only=False)
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


if __name__ == "__main__":
    sys.exit(main())
