import pytest

from xenaccept.resources.xl import parse_config, render_config


def test_render_and_parse_round_trip():
    text = render_config({
        "name": "drvdom", "kernel": "/boot/vmlinuz-6.1.0-50-amd64", "memory": 1024,
        "disk": ["phy:/dev/vdb,xvda,w"], "pci": ["0000:00:05.0"], "driver_domain": 1,
        "vif": ["mac=00:16:3e:5a:00:01,bridge=xenbr0,backend=drvdom"],
    })
    assert "pci = [ '0000:00:05.0' ]" in text
    assert "driver_domain = 1" in text
    conf = parse_config(text)
    assert conf["pci"] == ["0000:00:05.0"]
    assert conf["driver_domain"] == 1
    assert conf["memory"] == 1024
    assert conf["name"] == "drvdom"
    assert conf["vif"] == ["mac=00:16:3e:5a:00:01,bridge=xenbr0,backend=drvdom"]


def test_render_refuses_quotes():
    with pytest.raises(ValueError):
        render_config({"extra": 'console=hvc0" ; pci=["x"]'})


def test_parse_operator_style_config():
    conf = parse_config("""
# driver domain
name    = 'drvdom'
pci = [
   '00:05.0,permissive=1',
]
driver_domain=1   # backends here
""")
    assert conf["pci"] == ["00:05.0,permissive=1"]
    assert conf["driver_domain"] == 1
