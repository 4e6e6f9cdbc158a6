"""The command line: ``python -m xenaccept`` or ``xenaccept`` (init, teardown)."""
