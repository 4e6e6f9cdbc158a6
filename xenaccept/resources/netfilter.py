"""Packet filters a bridged frame can meet in the driver domain: br_netfilter, iptables'
FORWARD chain and the nftables ruleset, parsed from what the tools print.

* br_netfilter: ``/proc/sys/net/bridge/bridge-nf-call-{iptables,ip6tables,arptables}``
  exist only while the module is loaded; a value 1 hands every frame a bridge forwards to
  iptables (ip6tables, arptables) as if it were routed. Docker loads it and sets 1.
* ``iptables -S FORWARD`` (and ``ip6tables``): ``-P FORWARD DROP`` is the policy, each
  ``-A FORWARD ...`` a rule; Docker leaves the policy DROP.
* ``nft -j list ruleset``: libnftables-json(5), a flat list of ``table``, ``chain`` and
  ``rule`` objects; a base chain names its ``hook`` and ``policy``, a rule's ``expr`` holds
  its matches and statements, ``{"drop": null}`` or ``{"reject": ...}`` among them.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

BRNF_KEYS = ("iptables", "ip6tables", "arptables")
BRNF_PATH = "/proc/sys/net/bridge/bridge-nf-call-{}"
DROPPING = ("drop", "reject")


@dataclass(frozen=True)
class XtChain:
    """One iptables chain as ``-S`` prints it: its policy and its rules (each the
    ``-A ...`` line, as printed)."""

    name: str
    policy: str
    rules: tuple[str, ...] = ()

    @property
    def dropping(self) -> tuple[str, ...]:
        """The rules whose target is DROP or REJECT."""
        return tuple(r for r in self.rules if _xt_target(r) in ("DROP", "REJECT"))

    @property
    def accepts_all(self) -> bool:
        """A rule accepts every frame (``-A FORWARD -j ACCEPT``): the policy never applies
        after it."""
        return any(shlex.split(r)[2:] == ["-j", "ACCEPT"] for r in self.rules)


@dataclass(frozen=True)
class NftRule:
    handle: int | None
    verdict: str                   # "drop" or "reject"
    text: str                      # the rule in short (empty when too long to show)
    packets: int | None = None     # its counter, when it has one


@dataclass(frozen=True)
class NftChain:
    family: str                    # bridge, netdev, ip, ip6, inet, arp
    table: str
    name: str
    hook: str = ""                 # empty for a chain no hook calls (jumped to only)
    type: str = ""
    policy: str = ""
    devices: tuple[str, ...] = ()  # netdev chains: the devices they are bound to
    dropping: tuple[NftRule, ...] = ()

    def describe(self) -> str:
        return f"nft chain {self.family} {self.table} {self.name} (hook {self.hook or 'none'})"


def parse_brnf(text: str) -> int | None:
    """A bridge-nf-call-* file's value (0 or 1); None when it holds no number."""
    value = text.strip()
    return int(value) if value.isdigit() else None


def parse_xt_chain(text: str, chain: str = "FORWARD") -> XtChain:
    """``iptables -S CHAIN`` -> the chain's policy and rules."""
    policy, rules = "", []
    for line in text.splitlines():
        words = line.split()
        if words[:2] == ["-P", chain] and len(words) > 2:
            policy = words[2]
        elif words[:2] == ["-A", chain]:
            rules.append(line.strip())
    return XtChain(chain, policy, tuple(rules))


def _xt_target(rule: str) -> str:
    words = rule.split()
    return next((words[i + 1] for i, w in enumerate(words[:-1]) if w in ("-j", "--jump")), "")


def parse_nft(text: str) -> list[NftChain]:
    """``nft -j list ruleset`` -> every chain with its hook, policy and the rules in it that
    drop or reject."""
    data = json.loads(text or "{}")
    items = data.get("nftables", []) if isinstance(data, dict) else []
    rules: dict[tuple[str, str, str], list[NftRule]] = {}
    for item in items:
        rule = item.get("rule") if isinstance(item, dict) else None
        if rule:
            found = _dropping_rule(rule)
            if found:
                key = (rule.get("family", ""), rule.get("table", ""), rule.get("chain", ""))
                rules.setdefault(key, []).append(found)
    return [_chain(item["chain"], rules) for item in items
            if isinstance(item, dict) and "chain" in item]


def _chain(c: Mapping[str, Any], rules: Mapping[tuple[str, str, str], list[NftRule]]) -> NftChain:
    family, table, name = c.get("family", ""), c.get("table", ""), c.get("name", "")
    devs = c.get("dev", ())
    return NftChain(family, table, name, c.get("hook", ""), c.get("type", ""),
                    c.get("policy", ""), (devs,) if isinstance(devs, str) else tuple(devs),
                    tuple(rules.get((family, table, name), ())))


def _dropping_rule(rule: Mapping[str, Any]) -> NftRule | None:
    exprs = rule.get("expr", [])
    verdict = next((k for e in exprs if isinstance(e, dict) for k in e if k in DROPPING), "")
    if not verdict:
        return None
    counters = [e["counter"] for e in exprs if isinstance(e, dict)
                and isinstance(e.get("counter"), dict)]
    packets = counters[0].get("packets") if counters else None
    text = _render(exprs)
    return NftRule(rule.get("handle"), verdict, text if text and len(text) <= 80 else "",
                   packets if isinstance(packets, int) else None)


def _render(exprs: Iterable[Any]) -> str:
    """A rule's expressions in nft's own words, for the common ones; "" for any other."""
    words = []
    for e in exprs:
        if not isinstance(e, dict) or len(e) != 1:
            return ""
        [(key, value)] = e.items()
        if key == "counter":
            continue
        if key == "match" and isinstance(value, dict):
            left, right = _value(value.get("left")), _value(value.get("right"))
            op = value.get("op", "==")
            if not (left and right):
                return ""
            words.append(f"{left} {right}" if op in ("==", "in") else f"{left} {op} {right}")
        elif key in ("drop", "reject", "accept", "log"):
            words.append(key)
        else:
            return ""
    return " ".join(words)


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return ""
    if isinstance(v, (str, int)):
        return str(v)
    if isinstance(v, list):
        parts = [_value(x) for x in v]
        return "{ " + ", ".join(parts) + " }" if all(parts) else ""
    if not isinstance(v, dict) or len(v) != 1:
        return ""
    [(key, inner)] = v.items()
    if key == "set":
        return _value(inner if isinstance(inner, list) else [inner])
    if key == "payload" and isinstance(inner, dict) and "protocol" in inner:
        return f"{inner['protocol']} {inner.get('field', '')}".strip()
    if key in ("meta", "ct") and isinstance(inner, dict) and "key" in inner:
        return str(inner["key"]) if key == "meta" else f"ct {inner['key']}"
    if key == "prefix" and isinstance(inner, dict):
        return f"{inner.get('addr')}/{inner.get('len')}"
    if key == "range" and isinstance(inner, list) and len(inner) == 2:
        return f"{_value(inner[0])}-{_value(inner[1])}"
    return ""
