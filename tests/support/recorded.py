"""Outputs recorded on the real lab (tests/data, named ``<domain>_<command>_<context>.txt``)
and the example inventory's first target."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from xenaccept.model import inventory
from xenaccept.model.target import Target

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"
EXAMPLE = ROOT / "inventory.example.yaml"


def data(name: str) -> str:
    """The recorded output ``tests/data/<name>``."""
    return (DATA / name).read_text()


def example_target(tmp_path: Path, **fields: Any) -> Target:
    """The example inventory's first target, its device the lab's e1000 at 0000:00:05.0 and
    ``fields`` set over it (an empty key file made in ``tmp_path``)."""
    (tmp_path / "k").write_text("")
    t = yaml.safe_load(EXAMPLE.read_text())["targets"][0]
    t["device"] = {"bdf": "0000:00:05.0", "native_driver": "e1000"}
    t.update(fields)
    return inventory.parse({"targets": [t]}, base=tmp_path)[0]
