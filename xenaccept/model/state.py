"""What the suite keeps on this machine for a target: the client key made for the driver
domain it builds, and that domain's host key, pinned when the suite generated it.

``$XENACCEPT_STATE/<target>/`` (default ``$XDG_STATE_HOME/xenaccept``, else
``~/.local/state/xenaccept``). The private key never leaves this machine: only its public
half goes into the driver domain. A kept driver domain stays reachable with these files,
for check mode, ``teardown`` and its operator (``ssh -i KEY -o UserKnownHostsFile=...``).
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from xenaccept.model.target import Target
from xenaccept.model.ssh import SSHSpec


def root() -> Path:
    base = os.environ.get("XENACCEPT_STATE")
    if base:
        return Path(base)
    xdg = os.environ.get("XDG_STATE_HOME") or os.path.expanduser("~/.local/state")
    return Path(xdg) / "xenaccept"


@dataclass(frozen=True)
class DriverDomainKeys:
    """The run's client key and the pinned host key of a built driver domain."""

    dir: Path

    @property
    def key_file(self) -> Path:
        return self.dir / "drvdom_ed25519"

    @property
    def known_hosts(self) -> Path:
        return self.dir / "drvdom_known_hosts"

    @property
    def present(self) -> bool:
        return self.key_file.is_file() and self.known_hosts.is_file()

    def new_client_key(self) -> str:
        """Make a fresh client key (0600) for this run; returns its public line."""
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        key = Ed25519PrivateKey.generate()
        private = key.private_bytes(serialization.Encoding.PEM,
                                    serialization.PrivateFormat.OpenSSH,
                                    serialization.NoEncryption())
        fd = os.open(self.key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(private)
        public = key.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                               serialization.PublicFormat.OpenSSH).decode()
        line = f"{public} xenaccept-run@{self.dir.name}"
        (self.dir / "drvdom_ed25519.pub").write_text(line + "\n")
        self.known_hosts.unlink(missing_ok=True)  # a new domain: the old pin is void
        return line

    def pin(self, host: str, port: int | None, host_key: str) -> None:
        """Pin the host key the suite generated in Dom0 (read back over Dom0's verified
        session): the only key accepted for the driver domain at ``host[:port]``."""
        kind, b64 = host_key.split()[:2]
        name = host if not port or port == 22 else f"[{host}]:{port}"
        self.known_hosts.write_text(f"{name} {kind} {b64}\n")

    def place(self, host: str, port: int | None) -> None:
        """The pinned key, now pinned at ``host[:port]`` (a driver domain that said its
        address only once it ran): the key stays the one generated in Dom0."""
        kind, b64 = self.known_hosts.read_text().split()[1:3]
        self.pin(host, port, f"{kind} {b64}")

    def spec(self, base: SSHSpec) -> SSHSpec:
        """``base`` with this run's client key and the pinned host key."""
        return dataclasses.replace(base, key_file=str(self.key_file),
                                   known_hosts=str(self.known_hosts))

    def forget(self) -> None:
        for f in (self.key_file, self.known_hosts, self.dir / "drvdom_ed25519.pub"):
            f.unlink(missing_ok=True)


def keys_for(target_name: str) -> DriverDomainKeys:
    return DriverDomainKeys(root() / target_name)


def driver_domain_spec(target: Target) -> SSHSpec:
    """How to reach the driver domain: as the inventory says; one the suite built is
    reached with the key made for the run that built it and its pinned host key."""
    spec = target.driver_domain.ssh
    assert spec is not None
    keys = keys_for(target.name)
    return keys.spec(spec) if target.driver_domain.built and keys.present else spec
