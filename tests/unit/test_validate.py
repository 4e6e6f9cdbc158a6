import pytest

from xenaccept.model import validate as v
from xenaccept.errors import InventoryError

INJECTIONS = [
    "00:05.0; reboot", "$(touch /tmp/pwned)", "`id`", "00:05.0 && rm -rf /", "a'b", 'a"b',
    "x\ny", "drv dom", "../../etc/passwd", "-rf", "xenbr0;id", "|nc", "${IFS}", "a>b",
]


@pytest.mark.parametrize("raw,canonical", [
    ("00:05.0", "0000:00:05.0"), ("0000:00:05.0", "0000:00:05.0"),
    ("0000:0A:1f.7", "0000:0a:1f.7"), ("0001:ff:00.0", "0001:ff:00.0"),
])
def test_bdf_canonical(raw, canonical):
    assert v.bdf(raw) == canonical


@pytest.mark.parametrize("bad", ["00:20.0", "00:05.8", "0:05.0", "00:05", "", None, 5] + INJECTIONS)
def test_bdf_rejects_with_field_name(bad):
    with pytest.raises(InventoryError, match=r"^targets\[0\]\.device\.bdf: "):
        v.bdf(bad, "targets[0].device.bdf")


@pytest.mark.parametrize("bad", INJECTIONS + ["", "-x", "Domain-0", "a" * 65])
def test_domain_name_rejects(bad):
    with pytest.raises(InventoryError, match="driver_domain.name"):
        v.domain_name(bad, "driver_domain.name")


def test_domain_name_accepts_usual_names():
    assert v.domain_name("drvdom") == "drvdom"
    assert v.domain_name("xa-guest1.lab_2") == "xa-guest1.lab_2"


@pytest.mark.parametrize("bad", INJECTIONS + ["averyveryverylongname"])
def test_ifname_rejects(bad):
    with pytest.raises(InventoryError):
        v.ifname(bad, "bridge")


@pytest.mark.parametrize("check,bad", [
    (v.mac, "00:16:3e:00:00"), (v.mac, "00:16:3e:00:00:01;id"), (v.mac_prefix, "00:16:3e:5a"),
    (v.abs_path, "relative/path"), (v.abs_path, "/boot/../etc/shadow"), (v.abs_path, "/a b"),
    (v.abs_path, "/$(id)"), (v.xl_disk, "phy:/dev/vdb,xvda,w'] ; x"), (v.kernel_args, 'a"b'),
    (v.kernel_args, "root=/dev/xvda $(reboot)"), (v.user, "root;id"), (v.host, "-oProxyCommand=x"),
])
def test_other_validators_reject(check, bad):
    with pytest.raises(InventoryError, match="field"):
        check(bad, "field")


def test_port_range():
    assert v.port(2222, "p") == 2222
    for bad in (0, 65536, "22", True, None):
        with pytest.raises(InventoryError):
            v.port(bad, "p")


def test_injection_strings_are_counted():
    # the closing note reports how many injection strings are tried
    assert len(INJECTIONS) >= 12
