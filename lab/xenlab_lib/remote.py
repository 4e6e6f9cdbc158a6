"""SSH into the lab's domains: key only, host key verified against the lab's known_hosts."""
from __future__ import annotations

import subprocess
from pathlib import Path

from .common import LabError


def ssh_base(port: int, key: Path, known_hosts: Path, connect_timeout: int = 5) -> list[str]:
    return ["ssh", "-i", str(key), "-p", str(port),
            "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
            "-o", "StrictHostKeyChecking=yes", "-o", f"UserKnownHostsFile={known_hosts}",
            "-o", "GlobalKnownHostsFile=/dev/null", "-o", f"ConnectTimeout={connect_timeout}",
            "-o", "ServerAliveInterval=5", "-o", "ServerAliveCountMax=3",
            "-o", "LogLevel=ERROR", "root@127.0.0.1"]


def ssh(port: int, key: Path, known_hosts: Path, command: str, timeout: float = 60,
        capture: bool = True, input: str | None = None,
        inherit_stdin: bool = False) -> subprocess.CompletedProcess:
    cmd = ssh_base(port, key, known_hosts) + ["--", command]
    try:
        return subprocess.run(cmd, timeout=timeout, text=True, input=input,
                              stdin=None if input is not None or inherit_stdin else subprocess.DEVNULL,
                              stdout=subprocess.PIPE if capture else None,
                              stderr=subprocess.PIPE if capture else None)
    except subprocess.TimeoutExpired as e:
        raise LabError(f"ssh command timed out after {timeout:.0f}s: {command}") from e


def answers(port: int, key: Path, known_hosts: Path, command: str = "true",
            timeout: float = 20) -> bool:
    try:
        return ssh(port, key, known_hosts, command, timeout=timeout).returncode == 0
    except LabError:
        return False


def write_known_hosts(path: Path, entries: list[tuple[int, str]]) -> None:
    """entries: (port, 'ssh-ed25519 AAAA... comment')"""
    lines = []
    for port, pub in entries:
        kt, kb64 = pub.split()[:2]
        lines.append(f"[127.0.0.1]:{port} {kt} {kb64}")
    path.write_text("\n".join(lines) + "\n")
