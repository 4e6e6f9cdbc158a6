"""How to reach a host over SSH, as the inventory says it: a plain value, free of any SSH
library (the transport, :mod:`xenaccept.transport.ssh`, resolves and connects it)."""

from __future__ import annotations

from dataclasses import dataclass

from xenaccept.names import ADDRESS_KEY


# the host of a driver domain reached at the address it publishes, until Dom0 has read it
# (an invalid name under RFC 6761: never resolved; the transport refuses to connect to it)
PUBLISHED = "published.invalid"
UNPLACED = ("no address to reach it at: a driver domain the suite builds says in its "
            f"xenstore where its SSH server answers ({ADDRESS_KEY}); Dom0 has not read one "
            "(is it running?)")


@dataclass(frozen=True)
class SSHSpec:
    """How to reach a host. Unset fields come from the user's ssh_config (``Host`` aliases,
    HostName, User, Port, IdentityFile, UserKnownHostsFile, ProxyJump), then OpenSSH's
    defaults (port 22, ~/.ssh/known_hosts, the default identities and ssh-agent)."""

    host: str                          # an address, or a Host alias of the ssh_config
    port: int | None = None            # None: ssh_config's Port, else 22
    user: str | None = None            # None: ssh_config's User, else root
    key_file: str | None = None        # None: ssh_config's IdentityFile(s), default keys, agent
    known_hosts: str | None = None     # None: ssh_config's UserKnownHostsFile, else ~/.ssh/known_hosts
    jump: SSHSpec | None = None        # a jump host given by the suite (e.g. Dom0), before ProxyJump
    ssh_config: str | None = None      # None: ~/.ssh/config when it exists; "" for none
    connect_timeout: float = 15.0

    @property
    def address(self) -> str:
        return f"{self.user or ''}{'@' if self.user else ''}{self.host}" + \
            (f":{self.port}" if self.port else "")
