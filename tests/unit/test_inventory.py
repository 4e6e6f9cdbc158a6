import copy
import re
from pathlib import Path

import pytest
import yaml

from xenaccept.model import inventory
from xenaccept.model.ssh import PUBLISHED
from xenaccept.errors import InventoryError

EXAMPLE = Path(__file__).resolve().parents[2] / "inventory.example.yaml"


@pytest.fixture
def data(tmp_path):
    """The example inventory, its second (fully spelled out) target's files made real."""
    (tmp_path / "key").write_text("k")
    (tmp_path / "known_hosts").write_text("")
    (tmp_path / "ssh_config").write_text("")
    d = yaml.safe_load(EXAMPLE.read_text())
    dom0 = d["targets"][1]["dom0"]
    dom0["key_file"], dom0["known_hosts"], dom0["ssh_config"] = \
        "key", "known_hosts", "ssh_config"
    return d


def full(d):
    return d["targets"][1]


def test_the_minimal_target_is_dom0_and_the_device(tmp_path):
    [t] = inventory.parse({"targets": [{"dom0": "xen1", "device": "03:00.0",
                                        "driver_domain": {"ssh": "192.0.2.10:2222"}}]},
                          base=tmp_path)
    assert t.name == "xen1"
    assert (t.dom0.host, t.dom0.port, t.dom0.key_file, t.dom0.known_hosts) == \
        ("xen1", None, None, None)  # from the user's ssh_config and known_hosts
    assert t.device.bdf == "0000:03:00.0" and t.device.native_driver is None
    dd = t.driver_domain
    assert dd.built and dd.disk is None and dd.kernel is None and dd.address is None
    assert (dd.ssh.host, dd.ssh.port, dd.ssh.jump) == ("192.0.2.10", 2222, None)
    assert t.guests.built and t.guests.names == ("xa-guest1", "xa-guest2")
    assert t.bridge == "xenbr0" and t.config_path("drvdom") == "/etc/xen/drvdom.cfg"


def test_the_example_loads(data, tmp_path):
    minimal, t = inventory.parse(data, base=tmp_path)
    assert minimal.device.bdf == "0000:03:00.0"
    assert t.dom0.key_file == str(tmp_path / "key")
    assert t.device.native_driver == "e1000e"
    assert t.guests.mac(0) == "00:16:3e:5a:00:01"
    dd = t.driver_domain
    # a static address and ssh via Dom0: Dom0 is the jump host to the domain's address
    assert (dd.address, dd.gateway) == ("192.0.2.11/24", "192.0.2.1")
    assert dd.ssh.host == "192.0.2.11" and dd.ssh.jump == t.dom0 and dd.ssh.ssh_config == ""
    assert len(dd.authorized_keys) == 1


def test_only_the_host_and_the_nic_reach_the_driver_domain_where_it_says(tmp_path):
    # a driver domain the suite builds says its address in xenstore: nothing more to give
    t, = inventory.parse({"targets": [{"dom0": "xen1", "device": "03:00.0"}]}, base=tmp_path)
    dd = t.driver_domain
    assert dd.built and dd.published and dd.ssh.host == PUBLISHED and dd.ssh.jump is None
    # through Dom0 when this machine is not on the LAN (and Dom0 is)
    t, = inventory.parse({"targets": [{"dom0": "xen1", "device": "03:00.0",
                                       "driver_domain": {"ssh": {"via": "dom0"}}}]},
                         base=tmp_path)
    assert t.driver_domain.published and t.driver_domain.ssh.jump == t.dom0
    # or through the LAN's port forwards
    t, = inventory.parse({"targets": [{"dom0": "xen1", "device": "03:00.0", "lan": {
        "forwards": {"10.0.2.15:22": "127.0.0.1:2201"}}}]}, base=tmp_path)
    assert t.lan.reached_at("10.0.2.15", 22) == ("127.0.0.1", 2201)
    assert t.lan.reached_at("10.0.2.16", 22) == ("10.0.2.16", 22)


def test_an_operators_driver_domain_without_ssh_or_address_is_refused(tmp_path):
    with pytest.raises(InventoryError, match=r"driver_domain\.ssh: missing.*static address"):
        inventory.parse({"targets": [{"dom0": "xen1", "device": "03:00.0", "driver_domain": {
            "disk": "format=raw,vdev=xvda,access=rw,target=/srv/dd.img"}}]}, base=tmp_path)


def test_the_placeholder_is_not_an_address(tmp_path):
    with pytest.raises(InventoryError, match="placeholder"):
        inventory.parse({"targets": [{"dom0": "xen1", "device": "03:00.0", "driver_domain": {
            "ssh": {"host": PUBLISHED}}}]}, base=tmp_path)


@pytest.mark.parametrize("path,key,near", [
    ((), "brigde", "bridge"),
    (("driver_domain",), "adress", "address"),
    (("guests",), "cout", "count"),
    (("dom0",), "knwon_hosts", "known_hosts"),
])
def test_an_unknown_field_is_refused_with_the_nearest_name(data, tmp_path, path, key, near):
    node = full(data)
    for p in path:
        node = node[p]
    node[key] = "x"
    where = re.escape(".".join(("targets[1]",) + path + (key,)))
    with pytest.raises(InventoryError, match=rf"{where}.*unknown field; did you mean '{near}'"):
        inventory.parse(data, base=tmp_path)


@pytest.mark.parametrize("path,value,field", [
    (("device", "bdf"), "00:05.0; reboot", r"targets\[1\]\.device\.bdf"),
    (("driver_domain", "name"), "$(touch /tmp/pwned)", r"targets\[1\]\.driver_domain\.name"),
    (("bridge",), "xenbr0;id", r"targets\[1\]\.bridge"),
    (("driver_domain", "kernel"), "/boot/`id`", r"targets\[1\]\.driver_domain\.kernel"),
    (("driver_domain", "address"), "10.0.0.5", r"targets\[1\]\.driver_domain\.address"),
    (("driver_domain", "authorized_keys"), ["ssh-ed25519 AAAA\nx"],
     r"targets\[1\]\.driver_domain\.authorized_keys\[0\]"),
    (("dom0", "port"), "22", r"targets\[1\]\.dom0\.port"),
    (("guests", "mac_prefix"), "00:16:3e", r"targets\[1\]\.guests\.mac_prefix"),
    (("dom0", "key_file"), "missing-key", r"targets\[1\]\.dom0\.key_file.*does not exist"),
    (("guests", "extra"), "console=hvc0", r"targets\[1\]\.guests\.extra: only with"),
])
def test_bad_values_name_the_field(data, tmp_path, path, value, field):
    d = copy.deepcopy(data)
    node = full(d)
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    with pytest.raises(InventoryError, match=field):
        inventory.parse(d, base=tmp_path)


def test_missing_field_is_named(data, tmp_path):
    del full(data)["device"]["bdf"]
    with pytest.raises(InventoryError, match=r"targets\[1\]\.device\.bdf: missing"):
        inventory.parse(data, base=tmp_path)


def test_guest_may_not_take_the_driver_domains_name(data, tmp_path):
    full(data)["guests"]["names"] = ["drvdom"]
    with pytest.raises(InventoryError, match="driver domain's name"):
        inventory.parse(data, base=tmp_path)


def test_not_yaml(tmp_path):
    p = tmp_path / "inv.yaml"
    p.write_text("targets: [unclosed")
    with pytest.raises(InventoryError, match="not valid YAML"):
        inventory.load(p)


def test_reports_show_a_target_by_its_name_not_its_key_paths(data, tmp_path):
    # Allure shows a scenario's parameters with repr(): the name, no paths or ports
    t = inventory.parse(data, base=tmp_path)[1]
    assert repr(t) == f"Target({t.name!r})"
    assert str(tmp_path) not in repr(t)


def test_the_lab_inventory_is_the_booted_instances(monkeypatch: pytest.MonkeyPatch) -> None:
    """`XENLAB_NAME=x make acceptance` boots lab x: the suite must read x's inventory."""
    monkeypatch.delenv("XENLAB_NAME", raising=False)
    assert inventory.lab_inventory("/r") == Path("/r/lab/run/default/inventory.yaml")
    monkeypatch.setenv("XENLAB_NAME", "x")
    assert inventory.lab_inventory("/r") == Path("/r/lab/run/x/inventory.yaml")
    monkeypatch.setenv("XENLAB_NAME", "../etc")
    with pytest.raises(InventoryError, match="XENLAB_NAME"):
        inventory.lab_inventory("/r")


@pytest.mark.parametrize("host, name", [("xen1.lab", "xen1.lab"), ("dom0", "xen-dom0"),
                                        ("fe80::1", "fe80--1")])
def test_a_target_without_a_name_is_named_as_init_names_it(tmp_path, host, name):
    [t] = inventory.parse({"targets": [{"dom0": host, "device": "00:05.0",
                                        "driver_domain": {"ssh": "192.0.2.10"}}]},
                          base=tmp_path)
    assert t.name == name == inventory.target_name(host)
