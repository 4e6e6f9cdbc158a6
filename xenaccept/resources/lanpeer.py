"""The suite's LAN peer: a TCP server on this machine that stands for a server on the
LAN. Each guest of the suite connects to it (as ``lan.peer``) and moves data both ways:

    guest: XA1 <guest> <seq> <bytes> <sha256 of what it sends>\\n, then <bytes> bytes
    peer:  GOT <sha256 of what arrived> <microseconds from first byte to last>\\n,
           then <bytes> random bytes
    guest: SUM <sha256 of what arrived> <count> <microseconds>\\n
    peer:  END ok|bad\\n

Both ends check both checksums; the peer keeps what it saw, per guest and probe, for the
checks to compare with what the guest says. Bounded: sizes, one header line, a timeout on
every read; nothing is sent but to the connection a guest opened.
"""

from __future__ import annotations

import hashlib
import os
import re
import socket
import threading
import time
from dataclasses import dataclass

_HEADER = re.compile(r"XA1 ([A-Za-z0-9_.-]{1,64}) (\d{1,9}) (\d{1,10}) ([0-9a-f]{64})")
_SUM = re.compile(r"SUM ([0-9a-f]{64}) (\d{1,10}) (\d{1,12})")
MAX_BYTES = 256 << 20
CHUNK = 1 << 16


@dataclass
class Session:
    """One guest's transfer, as the peer saw it."""
    guest: str
    seq: int
    bytes: int
    client: str
    up_sum_claimed: str = ""      # what the guest says it sent
    up_sum: str = ""              # what arrived here
    up_received: int = 0
    up_seconds: float = 0.0
    down_sum: str = ""            # what the peer sent
    down_sum_guest: str = ""      # what the guest says arrived
    down_received: int = 0
    down_seconds: float = 0.0     # as the guest timed it
    error: str = ""

    @property
    def intact(self) -> bool:
        return (not self.error and self.up_sum == self.up_sum_claimed
                and self.up_received == self.bytes and self.down_sum == self.down_sum_guest
                and self.down_received == self.bytes)


class Peer:
    """Listens at ``listen`` (host, port) in a thread until :meth:`stop`."""

    def __init__(self, listen: tuple[str, int], timeout: float = 60.0) -> None:
        self.listen = listen
        self.timeout = timeout
        self.sessions: dict[tuple[str, int], Session] = {}
        self.started: set[tuple[str, int]] = set()   # (guest, seq) whose data began to come
        self._done = threading.Condition()
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(listen)
        self._sock.listen(16)
        self._sock.settimeout(0.5)
        self._stopping = False
        self._thread = threading.Thread(target=self._serve, name="xenaccept-lan-peer",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping = True
        try:  # wakes the accept() at once (else the thread ends at its next timeout)
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._thread.join(5)
        self._sock.close()

    def session(self, guest: str, seq: int, timeout: float) -> Session | None:
        """The finished session of ``guest``'s probe ``seq``, waiting up to ``timeout``."""
        deadline = time.monotonic() + timeout
        with self._done:
            while (guest, seq) not in self.sessions:
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._done.wait(left)
            return self.sessions[(guest, seq)]

    def wait_started(self, keys: set[tuple[str, int]], timeout: float) -> set[tuple[str, int]]:
        """Which of ``keys`` (guest, probe) began to send their data, waiting up to
        ``timeout`` for all of them."""
        deadline = time.monotonic() + timeout
        with self._done:
            while not keys <= self.started:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._done.wait(left)
            return keys & self.started

    def _serve(self) -> None:
        while not self._stopping:
            try:
                conn, addr = self._sock.accept()
            except (TimeoutError, OSError):
                continue
            threading.Thread(target=self._handle, args=(conn, addr[0]), daemon=True).start()

    def _handle(self, conn: socket.socket, client: str) -> None:
        conn.settimeout(self.timeout)
        f = conn.makefile("rb")
        s: Session | None = None
        try:
            m = _HEADER.fullmatch(f.readline(200).decode("ascii", "replace").strip())
            if not m or int(m.group(3)) > MAX_BYTES:
                return
            s = Session(m.group(1), int(m.group(2)), int(m.group(3)), client,
                        up_sum_claimed=m.group(4))
            with self._done:
                self.started.add((s.guest, s.seq))
                self._done.notify_all()
            self._exchange(conn, f, s)
        except (OSError, ValueError) as e:
            if s is not None:
                s.error = f"{type(e).__name__}: {e}"
        finally:
            f.close()
            conn.close()
            if s is not None:
                with self._done:
                    self.sessions[(s.guest, s.seq)] = s
                    self._done.notify_all()

    def _exchange(self, conn: socket.socket, f, s: Session) -> None:  # type: ignore[no-untyped-def]
        h = hashlib.sha256()
        t0 = None
        while s.up_received < s.bytes:
            chunk = f.read1(min(CHUNK, s.bytes - s.up_received))
            if not chunk:
                s.error = f"the guest's data ended after {s.up_received} of {s.bytes} bytes"
                return
            t0 = t0 or time.monotonic()
            h.update(chunk)
            s.up_received += len(chunk)
        s.up_seconds = time.monotonic() - (t0 or time.monotonic())
        s.up_sum = h.hexdigest()
        conn.sendall(f"GOT {s.up_sum} {int(s.up_seconds * 1e6)}\n".encode())
        data = os.urandom(s.bytes)
        s.down_sum = hashlib.sha256(data).hexdigest()
        conn.sendall(data)
        m = _SUM.fullmatch(f.readline(200).decode("ascii", "replace").strip())
        if not m:
            s.error = "the guest did not say what arrived"
            return
        s.down_sum_guest, s.down_received = m.group(1), int(m.group(2))
        s.down_seconds = int(m.group(3)) / 1e6
        conn.sendall(b"END ok\n" if s.intact else b"END bad\n")
