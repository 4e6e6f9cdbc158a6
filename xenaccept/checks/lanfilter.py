"""The packet filters on a guest's path to the LAN, as causes an operator can act on.

A bridge forwards frames without asking any firewall, except:

* nftables chains of family ``bridge`` (hooks prerouting, input, forward, output,
  postrouting) see every frame the bridge handles;
* ``netdev`` chains bound to the vif or the NIC (hooks ingress, egress) see the frames
  entering or leaving that device;
* with br_netfilter loaded and ``bridge-nf-call-iptables`` = 1 (or the bridge's own
  ``nf_call_iptables``), the bridge hands its IPv4 frames to iptables' FORWARD chain and to
  the ``ip``/``inet`` chains hooked at prerouting, forward and postrouting (the same for
  IPv6 with ``-ip6tables``). Docker loads it, sets 1, and leaves FORWARD's policy DROP.

iptables-nft shows its FORWARD chain in nft's ruleset too (table ``filter``, chain
``FORWARD``): it is said once, as iptables' (only the chains a hook calls are read, not
the chains they jump to).
"""

from __future__ import annotations

from xenaccept.resources.netfilter import NftChain, NftRule, XtChain
from xenaccept.resources.netpath import PathSnapshot

BRIDGE_HOOKS = ("prerouting", "input", "forward", "output", "postrouting")
BRNF_HOOKS = ("prerouting", "forward", "postrouting")   # what br_netfilter runs a bridged frame through
XT_TOOL = {"ip": "iptables", "ip6": "ip6tables"}


def filter_causes(snap: PathSnapshot, *, bridge: str, nic: str, vif: str, guest: str) -> list[str]:
    """Every filter on the path that drops ``guest``'s frames (a DROP policy) or may drop
    them (a DROP or REJECT rule), one sentence each."""
    found = []
    for tool, proto in (("iptables", "IPv4"), ("ip6tables", "IPv6")):
        via = _brnf(snap, bridge, tool)
        if via and tool in snap.xtables:
            found += _xtables(snap.xtables[tool], tool, proto, via, guest)
    for chain in snap.nft:
        sees = _nft_via(snap, chain, bridge, (vif, nic))
        if sees is not None:
            found += _nft(chain, sees, guest)
    return found


def _brnf(snap: PathSnapshot, bridge: str, tool: str) -> str:
    """How br_netfilter hands ``bridge``'s frames to ``tool`` ("" when it does not)."""
    if not snap.brnf_loaded:
        return ""
    if snap.brnf.get(tool) == 1:
        return f"br_netfilter is loaded with bridge-nf-call-{tool} = 1"
    link = snap.links.get(bridge)
    if link is not None and link.bridge.get(f"nf_call_{tool}"):
        return f"br_netfilter is loaded and {bridge} has nf_call_{tool} = 1"
    return ""


def _xtables(chain: XtChain, tool: str, proto: str, via: str, guest: str) -> list[str]:
    head = f"{via}: the bridge hands its {proto} frames to {tool}' {chain.name} chain"
    found = []
    if chain.policy == "DROP" and not chain.accepts_all:
        found.append(f"{head}, whose policy is DROP (as Docker leaves it): {guest}'s {proto} "
                     f"traffic is dropped there unless a rule accepts it ({tool} -S "
                     f"{chain.name}; e.g. {tool} -I {chain.name} -m physdev "
                     "--physdev-is-bridged -j ACCEPT)")
    found += [f"{head}, which holds `{rule}`: {guest}'s {proto} frames it matches are "
              "dropped there" for rule in chain.dropping]
    return found


def _nft_via(snap: PathSnapshot, chain: NftChain, bridge: str,
             devices: tuple[str, str]) -> str | None:
    """Why ``chain`` sees the guest's frames ("" for a bridge chain), None when it does not."""
    if chain.family == "bridge":
        return "" if chain.hook in BRIDGE_HOOKS else None
    if chain.family == "netdev":
        bound = [d for d in chain.devices if d in devices]
        return f" (bound to {', '.join(bound)})" if bound and chain.hook else None
    if chain.hook not in BRNF_HOOKS or chain.family not in ("ip", "ip6", "inet"):
        return None
    tool = XT_TOOL.get(chain.family)
    if tool in snap.xtables and (chain.table, chain.name) == ("filter", "FORWARD"):
        return None   # iptables-nft's own chain: said as iptables'
    tools = [tool] if tool else ["iptables", "ip6tables"]
    return next((f" ({why})" for t in tools if (why := _brnf(snap, bridge, t))), None)


def _nft(chain: NftChain, via: str, guest: str) -> list[str]:
    found = []
    if chain.policy == "drop":
        found.append(f"{chain.describe()}{via}: policy drop: {guest}'s frames that no rule "
                     "of it accepts are dropped there (nft list chain "
                     f"{chain.family} {chain.table} {chain.name})")
    found += [f"{chain.describe()}{via} holds a rule that {_verb(r)}s {_rule(r)}: "
              f"{guest}'s frames it matches are dropped there" for r in chain.dropping]
    return found


def _verb(rule: NftRule) -> str:
    return "reject" if rule.verdict == "reject" else "drop"


def _rule(rule: NftRule) -> str:
    said = [f"handle {rule.handle}"] if rule.handle is not None else []
    if rule.packets is not None:
        said.append(f"{rule.packets} packets counted")
    what = f"`{rule.text}`" if rule.text else "(too long to show)"
    return what + (f" ({', '.join(said)})" if said else "")
