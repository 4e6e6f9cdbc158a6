from fixtures.guide import FeatureRecord, ScenarioRecord, StepRecord, render


def test_guide_lists_steps_with_commands_and_outcomes():
    step = StepRecord("Then", "the device is bound to pciback in sysfs",
                      {"lab": "passed"}, ["[dom0] readlink /sys/bus/pci/devices/0000:00:05.0/driver"])
    guide = {"features/2_device_hidden.feature": FeatureRecord(
        "2. The PCI device is hidden from Dom0", "Before a PCI device can be passed through...",
        {"s": ScenarioRecord("The device belongs to pciback", [step], {"lab": "passed"})})}
    text = render(guide, {"lab": {"xen_version": "4.17.5", "dom0_kernel": "6.1.0-50-amd64"}})
    assert "## 2. The PCI device is hidden from Dom0" in text
    assert "Last outcome: **passed** on lab" in text
    assert "- Then the device is bound to pciback in sysfs — passed" in text
    assert "  - `[dom0] readlink /sys/bus/pci/devices/0000:00:05.0/driver`" in text
    assert "network-bridge" in text and "Xen 4.17.5" in text
