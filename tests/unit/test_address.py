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


# -- the suite reaches a driver domain where it says (no address in the inventory) --------

def test_dom0_reads_where_the_running_driver_domain_answers_and_the_pin_follows(
        tmp_path, monkeypatch):
    from tests.support.fake import FakeRunner
    from tests.support.recorded import data
    from xenaccept.model import inventory, state
    from xenaccept.model.ssh import PUBLISHED
    from xenaccept.provision import reach
    from xenaccept.resources.xl import Xl
    from xenaccept.transport.ssh import SSHRunner
    xl_list = data("dom0_xl-list_assigned-running.txt")
    domid = Xl(FakeRunner(answers={"xl list": xl_list})).domain("drvdom").domid
    dom0 = FakeRunner(answers={
        f"xenstore-read /local/domain/{domid}/{ADDRESS_KEY}": "10.0.2.15\n"})
    silent = FakeRunner()   # running, nothing said yet (xenstore-read fails)

    monkeypatch.setenv("XENACCEPT_STATE", str(tmp_path / "state"))
    t, = inventory.parse({"targets": [{"name": "lab", "dom0": "xen1", "device": "00:05.0",
                                       "lan": {"forwards": {"10.0.2.15:22": "127.0.0.1:2201"}}}]},
                         base=tmp_path)
    keys = state.keys_for("lab")
    keys.new_client_key()
    keys.pin(t.driver_domain.ssh.host, None, "ssh-ed25519 AAAAC3Nz key-made-in-dom0")
    drvdom = SSHRunner("drvdom", state.driver_domain_spec(t), read_only=True)
    assert reach.place(drvdom, t, silent, domid) is None
    assert drvdom.spec.host == PUBLISHED                        # left as it was
    assert reach.place(drvdom, t, dom0, domid) == "10.0.2.15"
    assert dom0.sent == [f"xenstore-read /local/domain/{domid}/{ADDRESS_KEY}"]
    spec = drvdom.spec
    assert (spec.host, spec.port) == ("127.0.0.1", 2201)       # through the forward
    assert spec.key_file == str(keys.key_file) and spec.known_hosts == str(keys.known_hosts)
    # the same key, pinned where the domain is reached
    assert keys.known_hosts.read_text() == "[127.0.0.1]:2201 ssh-ed25519 AAAAC3Nz\n"
    spec = reach.spec_at(t, "10.0.2.16")
    assert (spec.host, spec.port) == ("10.0.2.16", 22)
    assert keys.known_hosts.read_text() == "10.0.2.16 ssh-ed25519 AAAAC3Nz\n"
    # what the domain wrote is an address or refused, before anything connects or is pinned
    from xenaccept.errors import HarnessError
    for said in ("evil.example.org", "-oProxyCommand=touch /tmp/x", "10.0.2.15 22"):
        with pytest.raises(HarnessError, match="not an IP address"):
            reach.spec_at(t, said)
    assert keys.known_hosts.read_text() == "10.0.2.16 ssh-ed25519 AAAAC3Nz\n"


def test_a_runner_for_a_domain_that_has_not_said_where_refuses_to_connect():
    from xenaccept.errors import HarnessError
    from xenaccept.model.ssh import PUBLISHED, SSHSpec
    from xenaccept.transport.ssh import SSHRunner
    r = SSHRunner("drvdom", SSHSpec(PUBLISHED), read_only=True)
    with pytest.raises(HarnessError, match=r"drvdom: no address to reach it at.*ssh-address"):
        r.run("true")
