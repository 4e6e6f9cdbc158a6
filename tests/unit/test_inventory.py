import copy
from pathlib import Path

import pytest
import yaml

from xenaccept import inventory
from xenaccept.errors import InventoryError

EXAMPLE = Path(__file__).resolve().parents[2] / "inventory.example.yaml"


@pytest.fixture
def data(tmp_path):
    (tmp_path / "key").write_text("k")
    (tmp_path / "known_hosts").write_text("")
    d = yaml.safe_load(EXAMPLE.read_text())
    t = d["targets"][0]
    for ssh in (t["dom0"], t["driver_domain"]["ssh"]):
        ssh["key_file"], ssh["known_hosts"] = "key", "known_hosts"
    return d


def test_example_loads(data, tmp_path):
    [t] = inventory.parse(data, base=tmp_path)
    assert t.device.bdf == "0000:03:00.0"
    assert t.dom0.key_file == str(tmp_path / "key")
    assert t.guests.names == ("xa-guest1", "xa-guest2")
    assert t.guests.mac(0) == "00:16:3e:5a:00:01"
    assert t.guests.kernel == t.driver_domain.kernel  # guests default to Dom0's kernel
    assert t.config_path("drvdom") == "/etc/xen/drvdom.cfg"


@pytest.mark.parametrize("path,value,field", [
    (("device", "bdf"), "00:05.0; reboot", r"targets\[0\]\.device\.bdf"),
    (("driver_domain", "name"), "$(touch /tmp/pwned)", r"targets\[0\]\.driver_domain\.name"),
    (("bridge",), "xenbr0;id", r"targets\[0\]\.bridge"),
    (("driver_domain", "kernel"), "/boot/`id`", r"targets\[0\]\.driver_domain\.kernel"),
    (("dom0", "port"), "22", r"targets\[0\]\.dom0\.port"),
    (("guests", "mac_prefix"), "00:16:3e", r"targets\[0\]\.guests\.mac_prefix"),
    (("dom0", "key_file"), "missing-key", r"targets\[0\]\.dom0\.key_file.*does not exist"),
])
def test_bad_values_name_the_field(data, tmp_path, path, value, field):
    d = copy.deepcopy(data)
    node = d["targets"][0]
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    with pytest.raises(InventoryError, match=field):
        inventory.parse(d, base=tmp_path)


def test_missing_field_is_named(data, tmp_path):
    del data["targets"][0]["device"]["bdf"]
    with pytest.raises(InventoryError, match=r"targets\[0\]\.device\.bdf: missing"):
        inventory.parse(data, base=tmp_path)


def test_guest_may_not_take_the_driver_domains_name(data, tmp_path):
    data["targets"][0]["guests"]["names"] = ["drvdom"]
    with pytest.raises(InventoryError, match="driver domain's name"):
        inventory.parse(data, base=tmp_path)


def test_not_yaml(tmp_path):
    p = tmp_path / "inv.yaml"
    p.write_text("targets: [unclosed")
    with pytest.raises(InventoryError, match="not valid YAML"):
        inventory.load(p)


def test_reports_show_a_target_by_its_name_not_its_key_paths(data, tmp_path):
    # Allure shows a scenario's parameters with repr(): the name, no paths or ports
    [t] = inventory.parse(data, base=tmp_path)
    assert repr(t) == f"Target({t.name!r})"
    assert str(tmp_path) not in repr(t)
