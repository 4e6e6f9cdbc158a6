"""What changed between two runs: facts that differ, regressions and fixes.

A run is recorded as ``{"facts": {target: {...}}, "results": {test id: outcome}}``, the
outcome one of passed, failed, error, skipped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Comparison:
    facts: list[tuple[str, Any, Any]] = field(default_factory=list)  # (path, before, after)
    regressions: list[tuple[str, str, str]] = field(default_factory=list)
    fixes: list[tuple[str, str, str]] = field(default_factory=list)
    new: list[tuple[str, str]] = field(default_factory=list)
    gone: list[tuple[str, str]] = field(default_factory=list)
    slower: list[tuple[str, float, float]] = field(default_factory=list)  # throughput facts

    @property
    def regressed(self) -> bool:
        return bool(self.regressions or self.slower)

    def markdown(self) -> str:
        out = ["# What changed since the baseline", ""]
        out += ["## Facts", ""]
        out += [f"- `{p}`: `{a}` -> `{b}`" for p, a, b in self.facts] or ["- no change"]
        out += ["", "## Regressions (passed before, not now)", ""]
        out += [f"- {t}: {a} -> **{b}**" for t, a, b in self.regressions]
        out += [f"- {k}: {a} -> **{b}** MB/s ({(b - a) / a:+.0%}, more than "
                f"{SLOWER:.0%} slower)" for k, a, b in self.slower]
        if not self.regressions and not self.slower:
            out += ["- none"]
        out += ["", "## Fixed (not passing before, passing now)", ""]
        out += [f"- {t}: {a} -> {b}" for t, a, b in self.fixes] or ["- none"]
        if self.new or self.gone:
            out += ["", "## Scenarios new or gone", ""]
            out += [f"- new: {t} ({o})" for t, o in self.new]
            out += [f"- gone: {t} (was {o})" for t, o in self.gone]
        return "\n".join(out) + "\n"


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        flat: dict[str, Any] = {}
        for k, v in value.items():
            flat.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return flat
    return {prefix: value}


SLOWER = 0.30   # a throughput fact (``..._MBps``) this much below the baseline's regressed


def compare(baseline: dict[str, Any], current: dict[str, Any]) -> Comparison:
    c = Comparison()
    before, after = _flatten(baseline.get("facts", {})), _flatten(current.get("facts", {}))
    for key in sorted(set(before) | set(after)):
        a, b = before.get(key), after.get(key)
        if a != b:
            c.facts.append((key, a, b))
        if (key.endswith("_MBps") and isinstance(a, (int, float)) and a > 0
                and isinstance(b, (int, float)) and b < a * (1 - SLOWER)):
            c.slower.append((key, float(a), float(b)))
    old, now = baseline.get("results", {}), current.get("results", {})
    for test in sorted(set(old) | set(now)):
        a, b = old.get(test), now.get(test)
        if a is None:
            c.new.append((test, str(b)))
        elif b is None:
            c.gone.append((test, a))
        elif a == "passed" and b != "passed":
            c.regressions.append((test, a, b))
        elif a != "passed" and b == "passed":
            c.fixes.append((test, a, b))
    return c
