"""The three ways a check can go wrong, kept apart as the reports keep them apart.

* :class:`CheckFailed`: the host does not hold a checkpoint (a product failure).
* :class:`HarnessError`: the suite could not find out (unreachable host, hung command,
  refused host key): an ERROR of the harness, never reported as a checkpoint failure.
* :class:`InventoryError`: the configuration is wrong; raised before anything runs.
"""


class XenAcceptError(Exception):
    """Base of the errors of this package."""


class InventoryError(XenAcceptError):
    """A value of the inventory is malformed; names the field."""


class HarnessError(XenAcceptError):
    """The harness could not carry out a command (not a verdict about the host)."""


class CommandTimeout(HarnessError):
    """A remote command did not finish within its timeout."""


class HostKeyError(HarnessError):
    """The SSH host key is unknown or changed: the connection was refused."""


class ReadOnlyViolation(XenAcceptError):
    """A command that changes the host was asked for in check (read-only) mode."""


class CheckFailed(AssertionError, XenAcceptError):
    """A checkpoint does not hold. The message names what was expected and what was found."""

    def __init__(self, what: str, expected: str, found: str) -> None:
        self.what, self.expected, self.found = what, expected, found
        super().__init__(f"{what}: expected {expected}; found {found}")
