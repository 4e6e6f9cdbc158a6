"""`init` over real SSH against this machine (no Xen here): its remote scripts and the
`ip -j` outputs of a real Debian host parse, and the NIC of this machine's own default
route is never offered."""

import json
import subprocess
from pathlib import Path

import pytest

from tests import sshd
from xenaccept.cli.main import main

pytestmark = pytest.mark.skipif(not sshd.available(),
                                reason=f"no OpenSSH server at {sshd.SSHD} (make setup installs it)")


def local_nics() -> dict[str, str]:
    """{bdf: class} of this machine's PCI network controllers, read locally."""
    found = {}
    for d in Path("/sys/bus/pci/devices").glob("*"):
        cls = (d / "class").read_text().strip()
        if cls.startswith("0x02"):
            found[d.name] = cls
    return found


def route_nic() -> str | None:
    """The PCI address under the interface of this machine's IPv4 default route."""
    routes = json.loads(subprocess.run(["ip", "-j", "route", "show", "default"],
                                       capture_output=True, text=True).stdout or "[]")
    for r in routes:
        dev = Path(f"/sys/class/net/{r.get('dev')}/device")
        if dev.exists():
            parts = [p for p in dev.resolve().parts if p.count(":") == 2]
            return parts[-1] if parts else None
    return None


def test_init_against_this_machine(tmp_path, capsys):
    with sshd.Sshd(tmp_path / "sshd", name="dom0") as s:
        kh = s.write_known_hosts(tmp_path / "known_hosts")
        common = ["127.0.0.1", "--port", str(s.port), "--key-file", str(s.client_key),
                  "--known-hosts", str(kh), "--ssh-config", ""]
        assert main(["init", *common]) == 0
        out = capsys.readouterr().out
        for bdf in local_nics():
            assert bdf in out
        nic = route_nic()
        if nic is not None:
            line = next(x for x in out.splitlines() if nic in x)
            assert "YES, never offered" in line
            # asking for it explicitly is refused, and nothing is written
            rc = main(["init", *common, "--output", str(tmp_path / "inv.yaml"),
                       "--device", nic])
            assert rc == 2 and "carries Dom0's own traffic" in capsys.readouterr().err
            assert not (tmp_path / "inv.yaml").exists()
