"""How commands reach a host: runners and their transcript, ssh_config resolution, SSH
over hops with host keys verified, the long-lived shell, the host lock, waits."""
