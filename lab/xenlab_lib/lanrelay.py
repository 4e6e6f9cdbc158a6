"""The LAN's server, as the lab's network sees it: QEMU's user network runs this for each
TCP connection a domain on the NIC's LAN opens to the peer's address (``guestfwd``: the one
way out that ``restrict=on`` leaves), with that connection on stdin and stdout. It relays
the bytes to the port on 127.0.0.1 where the acceptance suite's LAN peer listens, and back,
with half-closes passed on. Nothing else is reachable: the port is the lab's, on loopback.

Usage (by QEMU only): lanrelay.py PORT
"""
from __future__ import annotations

import os
import select
import socket
import sys


def main() -> int:
    port = int(sys.argv[1])
    lan = socket.socket(fileno=os.dup(0))          # the domain's connection
    try:
        peer = socket.create_connection(("127.0.0.1", port), timeout=10)
    except OSError:
        return 1                                  # nobody listens: the domain sees a close
    peer.settimeout(None)
    open_ends = {lan: peer, peer: lan}
    while open_ends:
        ready, _, _ = select.select(list(open_ends), [], [], 300)
        if not ready:
            return 2                              # 5 minutes without a byte: give up
        for src in ready:
            data = src.recv(1 << 16)
            dst = open_ends[src]
            if data:
                dst.sendall(data)
                continue
            del open_ends[src]                    # src sent all it will: pass the EOF on
            try:
                dst.shutdown(socket.SHUT_WR)
            except OSError:
                pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
