"""The command line, ``xenaccept`` (or ``python -m xenaccept``):

``teardown [--inventory PATH]``: remove a setup left by ``--keep`` (:mod:`.teardown`).
``init HOST [...]``: look at a Xen host (read-only), write an inventory (:mod:`.init`)."""

from __future__ import annotations

import argparse
import logging
import sys

from xenaccept.cli import init, teardown
from xenaccept.errors import XenAcceptError


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
    return teardown.run(a.inventory)

