from xenaccept.compare import compare

BASE = {"facts": {"lab": {"dom0_kernel": "6.1.0-50-amd64", "virt_caps": ["pv", "shadow"]}},
        "results": {"a[lab]": "passed", "b[lab]": "failed", "c[lab]": "passed",
                    "d[lab]": "passed"}}
NOW = {"facts": {"lab": {"dom0_kernel": "6.12.57+deb12-amd64", "virt_caps": ["pv"]}},
       "results": {"a[lab]": "passed", "b[lab]": "passed", "c[lab]": "failed",
                   "e[lab]": "passed"}}


def test_facts_regressions_and_fixes():
    c = compare(BASE, NOW)
    assert ("lab.dom0_kernel", "6.1.0-50-amd64", "6.12.57+deb12-amd64") in c.facts
    assert ("lab.virt_caps", ["pv", "shadow"], ["pv"]) in c.facts
    assert c.regressions == [("c[lab]", "passed", "failed")]
    assert c.fixes == [("b[lab]", "failed", "passed")]
    assert c.new == [("e[lab]", "passed")] and c.gone == [("d[lab]", "passed")]
    assert c.regressed
    md = c.markdown()
    assert "c[lab]: passed -> **failed**" in md and "6.12.57+deb12-amd64" in md


def test_same_run_changes_nothing():
    c = compare(BASE, BASE)
    assert not c.facts and not c.regressions and not c.fixes and not c.regressed
