"""Provisioning: the stages of the setup (:mod:`.stages`), each building itself and
recording its undo in the :mod:`.journal`; the :class:`Setup` of a target runs them and
restores the host (:mod:`.setup`)."""

from ..names import MARKER
from .journal import HostState, Journal, Undo
from .setup import Setup
from .stages import Stage

__all__ = ["MARKER", "HostState", "Journal", "Setup", "Stage", "Undo"]
