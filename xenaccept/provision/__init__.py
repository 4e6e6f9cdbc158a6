"""Provisioning: the stages of the setup (:mod:`.stages`, :mod:`.lifecycle`), each building
itself and recording its undo in the :mod:`.journal`, over the run's :mod:`.context`; the
permanent setup (:mod:`.persist`), probes (:mod:`.probe`), adoption and restore
(:mod:`.restore`); the :class:`Setup` of a target runs them (:mod:`.setup`)."""

from xenaccept.provision.journal import HostState, Journal, Undo
from xenaccept.provision.setup import Setup
from xenaccept.provision.stages import Stage

__all__ = ["HostState", "Journal", "Setup", "Stage", "Undo"]
