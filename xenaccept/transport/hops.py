"""The chain of SSH connections to a host: one fabric :class:`Connection` a hop, each jump
host the ``gateway`` of the next one. Fabric accepts any host key by default (it installs
paramiko's AutoAddPolicy): here every hop's client gets :class:`paramiko.RejectPolicy` and
that hop's known_hosts files, so an unknown key is refused, and a changed key is refused by
paramiko itself, on every hop."""

from __future__ import annotations

import contextlib
import os
import socket
import sys
import time
import traceback
from collections.abc import Callable

import paramiko
from fabric import Config, Connection

from xenaccept.errors import HarnessError, HostKeyError
from xenaccept.transport.sshconfig import Hop


def tb_lines() -> list[str]:
    """The exception being handled, as paramiko's transport thread logs it, but formatted
    without the carets under each source line: CPython 3.11 finds those with ``ast.parse``,
    whose recursion counter is shared between threads (gh-106905), so a transport thread
    failing (an unreachable host's banner) while pytest formats a traceback in the main
    thread stopped the whole run with ``SystemError: AST constructor recursion depth
    mismatch``."""
    etype, value, tb = sys.exc_info()
    if etype is None:
        return []
    lines = ["Traceback (most recent call last):"]
    for frame in traceback.extract_tb(tb):
        lines.append(f'  File "{frame.filename}", line {frame.lineno}, in {frame.name}')
        if frame.line:
            lines.append(f"    {frame.line.strip()}")
    lines += "".join(traceback.format_exception_only(etype, value)).rstrip("\n").split("\n")
    return lines


# paramiko's transport thread calls util.tb_strings() for every SSHException it meets
paramiko.util.tb_strings = tb_lines


def label(hop: Hop) -> str:
    """A jump host in messages: its alias, or its address and port when it has none."""
    return hop.name if hop.name != hop.hostname else f"{hop.hostname}:{hop.port}"


def where(name: str, hops: tuple[Hop, ...], index: int = -1) -> str:
    """A hop as error messages name it: ``dom0 via bastion (root@h:2201)`` for a jump
    host, ``dom0 (root@10.0.0.2:22 via bastion)`` for the target."""
    hop = hops[index]
    if index % len(hops) < len(hops) - 1:
        return f"{name} via {label(hop)} ({hop.address})"
    via = " via " + ", ".join(map(label, hops[:-1])) if len(hops) > 1 else ""
    return f"{name} ({hop.address}{via})"


def open_chain(name: str, hops: tuple[Hop, ...], limit: Callable[[Hop], float]) -> list[Connection]:
    """Every hop connected, jump hosts first, the target last; ``limit(hop)`` bounds each
    attempt (connect, banner, authentication, and a jump host's forward). Raises
    :class:`HostKeyError` or :class:`HarnessError` naming the hop at fault."""
    chain: list[Connection] = []
    for i, hop in enumerate(hops):
        bound = limit(hop)
        kwargs = {"key_filename": list(hop.key_files), "look_for_keys": False,
                  "allow_agent": hop.allow_agent, "banner_timeout": bound,
                  "auth_timeout": bound}
        if i < len(hops) - 1:  # a jump host: bounds the forward to the next hop
            kwargs["channel_timeout"] = bound
        conn = Connection(
            host=hop.hostname, user=hop.user, port=hop.port, connect_timeout=bound,
            gateway=chain[-1] if chain else None,
            # an empty ssh_config and no config files: fabric must not apply the user's
            # ssh_config (ProxyCommand, ...) on its own; the hops are already resolved
            config=Config(ssh_config=paramiko.SSHConfig(), lazy=True),
            connect_kwargs=kwargs)
        chain.append(conn)
        conn.client.set_missing_host_key_policy(paramiko.RejectPolicy())
        for path in hop.known_hosts:
            if not os.path.exists(path):
                continue
            try:
                conn.client.get_host_keys().load(path)
            except OSError as e:
                close_chain(chain)
                raise HostKeyError(f"{where(name, hops, i)}: cannot read known_hosts {path}: "
                                   f"{e}") from e
    try:
        chain[-1].open()  # fabric opens the gateways first, each through the one before
    except Exception as e:
        # the hop that failed: the first one fabric did not finish opening
        failed = next((i for i, c in enumerate(chain) if c.transport is None), -1)
        close_chain(chain)
        error = failure(e, name, hops, failed)
        if error is e:
            raise
        raise error from e
    return chain


def failure(e: Exception, name: str, hops: tuple[Hop, ...], i: int) -> Exception:
    """The error to report for ``e``, raised while opening hop ``i``."""
    hop, at = hops[i], where(name, hops, i)
    files = ", ".join(hop.known_hosts) or "no known_hosts file"
    if isinstance(e, paramiko.BadHostKeyException):
        return HostKeyError(
            f"{at}: host key CHANGED, refusing to connect "
            f"(got {e.key.get_name()} {e.key.get_fingerprint().hex()}; check {files})")
    if isinstance(e, paramiko.SSHException) and "not found in known_hosts" in str(e):
        return HostKeyError(f"{at}: host key UNKNOWN, refusing to connect "
                            f"(not in {files})")
    # the jump host could not open the forward ("Unable to open channel.", "Timeout
    # opening channel.", or the server's refusal as a ChannelException)
    forward = isinstance(e, paramiko.ChannelException) or \
        isinstance(e, paramiko.SSHException) and "channel." in str(e)
    if i > 0 and forward:
        return HarnessError(f"{at}: unreachable from {label(hops[i - 1])}: {e}")
    if isinstance(e, paramiko.SSHException):
        return HarnessError(f"{at}: SSH failed: {e}")
    if isinstance(e, (OSError, socket.timeout, EOFError)):
        return HarnessError(f"{at}: unreachable: {e}")
    return e


def close_chain(chain: list[Connection]) -> None:
    """Close every hop, the target first (also hops whose opening failed half-way)."""
    for conn in reversed(chain):
        with contextlib.suppress(Exception):  # closing a broken hop may fail: ignored
            conn.close()
        conn.client.close()


def banner(hostname: str, port: int, timeout: float) -> bool:
    """True when the SSH server at ``hostname:port`` sends its version banner within
    ``timeout``: a cheap probe (no login) for a host that is still booting, where a port
    forward may accept the TCP connection long before anything answers behind it."""
    deadline = time.monotonic() + timeout
    try:
        with socket.create_connection((hostname, port), timeout=timeout) as sock:
            data = b""
            while len(data) < 4:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                sock.settimeout(left)
                chunk = sock.recv(4 - len(data))
                if not chunk:
                    return False
                data += chunk
            return data == b"SSH-"
    except OSError:
        return False
