"""What every unit test shares: one fake host (:class:`FakeRunner`) and the outputs
recorded on the lab (:func:`data`, tests/data and its README)."""

from tests.support.fake import FakeRunner
from tests.support.recorded import DATA, EXAMPLE, data, example_target

__all__ = ["DATA", "EXAMPLE", "FakeRunner", "data", "example_target"]
