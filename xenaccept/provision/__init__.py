"""Provisioning: the stages of the setup (:mod:`.stages`), each building itself and
recording its undo in the :mod:`.journal`; the :class:`Setup` of a target runs them and
restores the host (:mod:`.setup`)."""

from xenaccept.names import MARKER
from xenaccept.provision.journal import HostState, Journal, Undo
from xenaccept.provision.setup import Setup
from xenaccept.provision.stages import Stage

__all__ = ["MARKER", "HostState", "Journal", "Setup", "Stage", "Undo"]
