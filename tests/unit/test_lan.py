"""The LAN: the inventory's lan: section, the suite's LAN peer (over real sockets, with a
client speaking the guests' side of the protocol), the guests' agent nodes as Dom0 reads
them on the lab, Dom0's script asking and reading a probe, the guests' kernel arguments,
and throughput regressions."""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import time

import pytest

from tests.support import data
from xenaccept.checks.lan import _ASK, agent_nodes, parse_result
from xenaccept.errors import InventoryError
from xenaccept.images import guest_payload
from xenaccept.model import lan
from xenaccept.report.compare import compare
from xenaccept.resources.lanpeer import Peer

GUESTS = ("xa-guest1", "xa-guest2")


def test_no_lan_section_means_dhcp_without_a_peer():
    got = lan.parse(None, "lan", GUESTS)
    assert got.enabled and got.dhcp and got.peer is None and got.bytes == 512 << 10


def test_lan_none_opts_out():
    assert not lan.parse("none", "lan", GUESTS).enabled
    assert guest_payload.lan_arg(lan.parse("none", "lan", GUESTS), "xa-guest1") == ""


def test_a_peer_listens_on_all_addresses_at_its_port_unless_told():
    got = lan.parse({"peer": "192.0.2.5:7000"}, "lan", GUESTS)
    assert got.peer == ("192.0.2.5", 7000) and got.listen == ("0.0.0.0", 7000)
    got = lan.parse({"peer": "10.0.2.100:7000", "listen": "127.0.0.1:4000"}, "lan", GUESTS)
    assert got.listen == ("127.0.0.1", 4000)


@pytest.mark.parametrize("raw, says", [
    ({"peer": "lan-server:7000"}, "not IPv4:port"),
    ({"peer": "192.0.2.5:70000"}, "lan.peer"),
    ({"listen": "127.0.0.1:4000"}, "only with lan.peer"),
    ({"addresses": {"xa-guest1": "192.0.2.21/24"}}, "missing: ['xa-guest2']"),
    ({"addresses": {"xa-guest1": "192.0.2.21", "xa-guest2": "192.0.2.22/24"}},
     "lacks its prefix length"),
    ({"addresses": {"other": "192.0.2.21/24"}}, "not one of the guests"),
    ({"gateway": "192.0.2.1"}, "only with lan.addresses"),
    ({"bytes": 0}, "lan.bytes"),
    ({"peers": "192.0.2.5:7000"}, "unknown field"),
    ("dhcp", "expected a mapping or `none`"),
])
def test_a_bad_lan_section_is_named_before_anything_runs(raw, says):
    with pytest.raises(InventoryError, match=None) as e:
        lan.parse(raw, "lan", GUESTS)
    assert says in str(e.value)


def test_static_addresses_reach_the_guests_kernel_arguments():
    got = lan.parse({"addresses": {"xa-guest1": "192.0.2.21/24", "xa-guest2": "192.0.2.22/24"},
                     "gateway": "192.0.2.1"}, "lan", GUESTS)
    assert not got.dhcp
    arg = guest_payload.lan_arg(got, "xa-guest2")
    assert arg == "static,192.0.2.22/24,192.0.2.1"
    extra = guest_payload.extra("fe80::fcff:ffff:feff:ffff", arg)
    assert extra.endswith(" xenaccept_lan=static,192.0.2.22/24,192.0.2.1")
    assert guest_payload.lan_arg(lan.parse(None, "lan", GUESTS), "xa-guest1") == "dhcp"


def test_the_agent_nodes_as_dom0_reads_them_on_the_lab():
    text = data("dom0_xenstore-ls-f-data-xenaccept_probed.txt")
    nodes = agent_nodes(text, 3)
    assert nodes["agent"] == "1"
    assert nodes["lan/address"] == "10.0.2.17/24" and nodes["lan/server"] == "10.0.2.2"
    result = parse_result(nodes["result"])
    assert result["tcp"] == "done" and result["verdict"] == "ok"
    assert result["up_sum"] == result["peer_up_sum"]
    assert agent_nodes(text, 2)["lan/address"] == "10.0.2.16/24"  # one guest's, not both
    assert agent_nodes(text, 7) == {}


def _guest_side(port: int, payload: bytes, *, claim: str | None = None,
                stop_after: int | None = None) -> bytes | None:
    """The guests' side of the protocol (xenaccept/images/guest_payload.py's TCP script)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as c:
        f = c.makefile("rb")
        up = claim or hashlib.sha256(payload).hexdigest()
        c.sendall(f"XA1 xa-guest1 7 {len(payload)} {up}\n".encode())
        if stop_after is not None:
            c.sendall(payload[:stop_after])
            c.shutdown(socket.SHUT_WR)
            return None
        c.sendall(payload)
        assert f.readline().split()[0] == b"GOT"
        down = f.read(len(payload))
        c.sendall(f"SUM {hashlib.sha256(down).hexdigest()} {len(down)} 1000\n".encode())
        return f.readline()


@pytest.fixture
def peer():
    p = Peer(("127.0.0.1", 0))
    p.listen = p._sock.getsockname()
    yield p
    p.stop()


def test_the_peer_checks_both_directions_and_keeps_what_it_saw(peer):
    payload = os.urandom(300_000)
    assert _guest_side(peer.listen[1], payload) == b"END ok\n"
    s = peer.session("xa-guest1", 7, timeout=5)
    assert s is not None and s.intact and s.client == "127.0.0.1"
    assert s.up_sum == hashlib.sha256(payload).hexdigest() and s.down_received == 300_000


def test_the_peer_tells_data_that_changed_on_the_way(peer):
    payload = os.urandom(100_000)
    assert _guest_side(peer.listen[1], payload, claim="0" * 64) == b"END bad\n"
    s = peer.session("xa-guest1", 7, timeout=5)
    assert s is not None and not s.intact and s.up_sum != s.up_sum_claimed


def test_the_peer_tells_a_transfer_cut_short(peer):
    _guest_side(peer.listen[1], os.urandom(100_000), stop_after=40_000)
    s = peer.session("xa-guest1", 7, timeout=5)
    assert s is not None and not s.intact
    assert s.error == "the guest's data ended after 40000 of 100000 bytes"


def test_the_peer_tells_a_transfer_begun_before_it_ends(peer):
    # a guest whose data began to come, and one that never connected
    with socket.create_connection(("127.0.0.1", peer.listen[1]), timeout=5) as c:
        c.sendall(f"XA1 xa-guest1 7 100000 {'0' * 64}\n".encode() + b"x" * 1000)
        started = peer.wait_started({("xa-guest1", 7), ("xa-guest2", 7)}, timeout=1)
        assert started == {("xa-guest1", 7)}
        assert ("xa-guest1", 7) not in peer.sessions   # still under way


def test_the_peer_ignores_a_stranger(peer):
    with socket.create_connection(("127.0.0.1", peer.listen[1]), timeout=5) as c:
        c.sendall(b"GET / HTTP/1.0\r\n\r\n")
        assert c.recv(100) == b""  # closed without an answer
    assert peer.sessions == {}


def test_throughput_more_than_30_percent_down_is_a_regression():
    before = {"facts": {"t": {"lan": {"xa-guest1": {"guest_to_lan_MBps": 1.0,
                                                     "lan_to_guest_MBps": 2.0}}}}}
    after = {"facts": {"t": {"lan": {"xa-guest1": {"guest_to_lan_MBps": 0.8,
                                                    "lan_to_guest_MBps": 1.2}}}}}
    c = compare(before, after)
    assert c.regressed
    assert c.slower == [("t.lan.xa-guest1.lan_to_guest_MBps", 2.0, 1.2)]  # -20% is noise
    assert "-40%, more than 30% slower" in c.markdown()


# -- Dom0's side of the probe (checks/lan.py's _ASK), run for real against a stand-in
# xenstore: a directory, with xenstore-write/-read/-ls as small scripts over it

_XS = {
    "xenstore-write": 'echo "$*" >> "$XS/calls"\nwhile [ $# -ge 2 ]; do '
                      'mkdir -p "$XS/$(dirname "$1")"; printf %s "$2" > "$XS/$1"; shift 2; done',
    "xenstore-read": 'for p; do [ -f "$XS/$p" ] || exit 1; cat "$XS/$p"; echo; done',
    "xenstore-ls": 'd=$2; cd "$XS" && find ".$d" -type f | sort | '
                   'while read -r f; do echo "${f#.} = \\"$(cat "$f")\\""; done',
}


@pytest.fixture
def xenstore(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, body in _XS.items():
        (bin_dir / name).write_text("#!/bin/sh\n" + body + "\n")
        (bin_dir / name).chmod(0o755)
    store = tmp_path / "xs"
    store.mkdir()
    monkeypatch.setenv("XS", str(store))
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    return store


def _ask(*args: str) -> tuple[subprocess.CompletedProcess[str], float]:
    t0 = time.monotonic()
    p = subprocess.run(["sh", "-c", _ASK, "sh", *args], text=True, capture_output=True,
                       timeout=30)
    return p, time.monotonic() - t0


def test_asking_early_writes_every_request_at_once_and_waits_for_nothing(xenstore):
    p, took = _ask("0", "42", "2", "seq=42 name=xa-guest1", "3", "seq=42 name=xa-guest2")
    assert p.returncode == 0 and p.stdout == "" and took < 2
    assert (xenstore / "calls").read_text().splitlines() == [
        "/local/domain/2/data/xenaccept/request seq=42 name=xa-guest1 "
        "/local/domain/3/data/xenaccept/request seq=42 name=xa-guest2"]


def test_the_answers_are_read_once_every_guest_answered_that_probe(xenstore):
    for domid in (2, 3):
        d = xenstore / f"local/domain/{domid}/data/xenaccept"
        d.mkdir(parents=True)
        (d / "result").write_text(f"seq=42 received=20 address=10.0.2.1{domid}/24")
    p, took = _ask("5", "42", "2", "", "3", "")   # wait only: nothing written
    assert p.returncode == 0 and took < 3 and not (xenstore / "calls").exists()
    assert agent_nodes(p.stdout, 3)["result"] == "seq=42 received=20 address=10.0.2.13/24"
    # a guest still holding the answer to an earlier probe is waited for, to the deadline
    (xenstore / "local/domain/3/data/xenaccept/result").write_text("seq=41 received=20")
    p, took = _ask("1", "42", "2", "", "3", "")
    assert p.returncode == 0 and 1 <= took < 4
    assert parse_result(agent_nodes(p.stdout, 3)["result"])["seq"] == "41"


def test_the_peer_stops_at_once():
    # the run's end waits for it: its accept() is woken, not left to its 0.5 s timeout
    p = Peer(("127.0.0.1", 0))
    start = time.monotonic()
    p.stop()
    assert time.monotonic() - start < 0.2
    assert not p._thread.is_alive()
