"""``python -m xenaccept teardown [--inventory PATH]``: remove a setup left by ``--keep``."""

from __future__ import annotations

import argparse
import sys

from . import inventory
from .errors import XenAcceptError
from .provision import Setup
from .ssh import SSHRunner


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m xenaccept")
    sub = p.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("teardown", help="destroy what a --keep run left up and give the "
                       "device back (only domains whose config this suite wrote)")
    t.add_argument("--inventory", default="lab/run/default/inventory.yaml")
    a = p.parse_args(argv)
    status = 0
    try:
        for target in inventory.load(a.inventory):
            dom0 = SSHRunner("dom0", target.dom0, read_only=False)
            drvdom = SSHRunner(target.driver_domain.name, target.driver_domain.ssh,
                               read_only=False)
            setup = Setup(target, dom0, drvdom, provision=True,
                          log=lambda m, n=target.name: print(f"[{n}] {m}"))
            if not setup.adopt_kept():
                print(f"[{target.name}] nothing left by the suite")
            problems = setup.restore()
            for problem in problems:
                print(f"[{target.name}] PROBLEM: {problem}", file=sys.stderr)
            status |= bool(problems)
            dom0.close()
    except XenAcceptError as e:
        print(f"xenaccept: {e}", file=sys.stderr)
        return 2
    return status


if __name__ == "__main__":
    sys.exit(main())
