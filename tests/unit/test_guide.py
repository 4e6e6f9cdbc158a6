from fixtures.guide import merge_guide, render

STEP = {"keyword": "Then", "name": "the device is bound to pciback in sysfs",
        "outcomes": {"lab": "passed"},
        "commands": ["[dom0] readlink /sys/bus/pci/devices/0000:00:05.0/driver"]}


def guide(target: str, outcome: str) -> dict:
    step = dict(STEP, outcomes={target: outcome})
    return {"features/2_device_hidden.feature": {
        "name": "2. The PCI device is hidden from Dom0",
        "description": "Before a PCI device can be passed through...",
        "scenarios": {"The device belongs to pciback": {"outcomes": {target: outcome},
                                                        "steps": [step]}}}}


def test_guide_lists_steps_with_commands_and_outcomes():
    text = render(guide("lab", "passed"),
                  {"lab": {"xen_version": "4.17.5", "dom0_kernel": "6.1.0-50-amd64"}})
    assert "## 2. The PCI device is hidden from Dom0" in text
    assert "Last outcome: **passed** on lab" in text
    assert "- Then the device is bound to pciback in sysfs — passed" in text
    assert "  - `[dom0] readlink /sys/bus/pci/devices/0000:00:05.0/driver`" in text
    assert "network-bridge" in text and "Xen 4.17.5" in text


def test_workers_guides_merge_per_target():
    merged = guide("a", "passed")
    merge_guide(merged, guide("b", "FAILED"))
    text = render(merged, {})
    assert "Last outcome: **passed** on a, **FAILED** on b" in text
    assert "— passed (a), FAILED (b)" in text
