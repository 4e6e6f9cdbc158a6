"""``python -m xenaccept``: the command line (:mod:`xenaccept.cli.main`)."""

import sys

from xenaccept.cli.main import main

sys.exit(main())
