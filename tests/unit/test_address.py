"""The driver domain the suite builds says in xenstore where its SSH server answers, and Dom0
waits for that on a watch: both scripts run for real here, over fake xenstore and ip
commands on PATH."""

import base64
import io
import os
import stat
import tarfile
import threading
import time

import pytest

from xenaccept.images import personal
from xenaccept.names import ADDRESS_KEY, ADDRESS_SCRIPT, ADDRESS_UNIT
from xenaccept.resources.xenstore import DomainGone, KeyTimeout, await_key
from xenaccept.transport.runner import LocalRunner


def tool(bindir, name: str, body: str) -> None:
    path = bindir / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)


@pytest.fixture
def bindir(tmp_path, monkeypatch):
    d = tmp_path / "bin"
    d.mkdir()
    monkeypatch.setenv("PATH", f"{d}:{os.environ['PATH']}")
    return d


def test_the_image_enables_a_unit_that_says_the_address_once_ssh_runs():
    p = personal.Personal("drvdom", "e1000", None, None, ("ssh-ed25519 AAAA k",), "0" * 32)
    archive = tarfile.open(fileobj=io.BytesIO(base64.b64decode(personal.personal_tar(p, {}))))
    script = archive.getmember(ADDRESS_SCRIPT.lstrip("/"))
    assert script.mode == 0o755
    unit = archive.extractfile(f"etc/systemd/system/{ADDRESS_UNIT}").read().decode()
    assert "After=ssh.service" in unit and f"ExecStart={ADDRESS_SCRIPT}" in unit
    link = archive.getmember(f"etc/systemd/system/multi-user.target.wants/{ADDRESS_UNIT}")
    assert link.issym() and link.linkname == f"/etc/systemd/system/{ADDRESS_UNIT}"


def test_the_domain_writes_its_first_global_ipv4_address_once_it_has_one(tmp_path, bindir):
    """No address on the first two reads (DHCP not answered yet), then a lease: the address
    without its prefix length goes to the domain's own xenstore data/."""
    count, written = tmp_path / "count", tmp_path / "written"
    tool(bindir, "ip", f"""n=$(cat {count} 2>/dev/null || echo 0); echo $((n+1)) > {count}
[ "$n" -lt 2 ] && exit 0
echo "2: eth0    inet 10.0.2.15/24 metric 1024 brd 10.0.2.255 scope global dynamic eth0"
echo "3: xenbr0    inet 192.0.2.9/24 scope global xenbr0"
""")
    tool(bindir, "xenstore-write", f'echo "$@" > {written}\n')
    script = tmp_path / "address"
    script.write_text(personal.ADDRESS_SCRIPT_TEXT)
    r = LocalRunner("drvdom", read_only=False).run("sh", str(script), timeout=30)
    assert r.ok, r.stderr
    assert written.read_text().split() == [ADDRESS_KEY, "10.0.2.15"]
    assert int(count.read_text()) == 3


@pytest.fixture
def store(tmp_path, bindir):
    """xenstore as files under tmp_path/xs: read, exists, and a watch that only sleeps (the
    real one returns at the write; the loop must not depend on it)."""
    xs = tmp_path / "xs"
    (xs / "local/domain/7").mkdir(parents=True)
    tool(bindir, "xenstore-read", f'cat "{xs}$1" 2>/dev/null\n')
    tool(bindir, "xenstore-exists", f'test -e "{xs}$1"\n')
    tool(bindir, "xenstore-watch", "sleep 5\n")
    return xs


def test_dom0_returns_the_address_as_soon_as_it_is_written(store):
    key = store / "local/domain/7" / ADDRESS_KEY

    def write() -> None:
        time.sleep(0.5)
        key.parent.mkdir(parents=True)
        key.write_text("10.0.2.15")
    threading.Thread(target=write).start()
    start = time.monotonic()
    assert await_key(LocalRunner("dom0", read_only=True), 7, ADDRESS_KEY, 20) == "10.0.2.15"
    assert time.monotonic() - start < 3


def test_a_domain_gone_or_silent_ends_the_wait(store):
    with pytest.raises(DomainGone):
        await_key(LocalRunner("dom0", read_only=True), 8, ADDRESS_KEY, 20)
    start = time.monotonic()
    with pytest.raises(KeyTimeout):
        await_key(LocalRunner("dom0", read_only=True), 7, ADDRESS_KEY, 1)
    assert time.monotonic() - start < 5
