"""``python -m xenaccept``: the command line (:mod:`xenaccept.cli.main`)."""

import sys

from xenaccept.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
