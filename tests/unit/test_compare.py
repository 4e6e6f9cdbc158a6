from xenaccept.report.compare import compare

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


def test_a_target_run_in_two_worker_processes_is_named():
    # pytest-xdist's loadgroup stopped grouping on pytest 9.2 (pytest-xdist issue #1386):
    # a split target is told, not hidden
    from fixtures.history import split_targets
    spans = [{"target": "a", "process": "gw0"}, {"target": "a", "process": "gw0"},
             {"target": "b", "process": "gw1"}, {"target": "b", "process": "gw0"}]
    assert split_targets(spans) == {"b": ["gw0", "gw1"]}


def test_connection_counts_of_a_split_target_add_up():
    import json

    from fixtures.record import RunRecord
    run = RunRecord()
    for worker in ("gw0", "gw1"):
        run.merge(json.dumps({"facts": {}, "connections": {"a": {"dom0": 1}},
                              "remote_seconds": {}, "waits": [],
                              "spans": [{"target": "a", "process": worker}], "guide": {}}))
    assert run.connections == {"a": {"dom0": 2}}


def test_scenario_ids_drop_the_xdist_group_suffix():
    from fixtures.history import scenario_id
    assert scenario_id("test_acceptance.py::test_a[h1]@h1") == "test_a[h1]"
    assert scenario_id("test_acceptance.py::test_a[h1]") == "test_a[h1]"
    assert scenario_id("test_acceptance.py::test_a[user@h1]") == "test_a[user@h1]"
