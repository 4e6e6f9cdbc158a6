"""Fixtures shared by the project's tests."""

import pytest


@pytest.fixture
def home(tmp_path, monkeypatch):
    """An empty HOME with ~/.ssh: no default key, no known_hosts, no ssh_config (so only
    what a test writes there, or an agent, can log in)."""
    h = tmp_path / "home"
    (h / ".ssh").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(h))
    return h
