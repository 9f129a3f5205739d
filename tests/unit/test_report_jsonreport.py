"""JSON report: strict JSON, round trip, merging shards."""

from __future__ import annotations

import json
import math

import pytest

from gradcheck_ci.core.results import ErrorInfo, RunReport
from gradcheck_ci.report.jsonreport import merge_reports, read_json, render_json, write_json
from tests.samples import hostile_report, model, param, sample_report


def strict_loads(text: str):
    def refuse(name):
        raise ValueError(f"non-standard JSON constant {name}")

    return json.loads(text, parse_constant=refuse)


def test_render_is_strict_json_with_indent():
    text = render_json(sample_report())
    data = strict_loads(text)
    assert data["schema"] == "gradcheck-ci/report/v1" and data["status"] == "error"
    assert text.startswith('{\n  "schema"') and text.endswith("}\n")
    assert list(data) == [
        "schema",
        "status",
        "version",
        "config_file",
        "shard",
        "seconds",
        "changed_since",
        "plan",
        "config_errors",
        "models",
    ]


def test_non_finite_numbers_become_strings_and_come_back(tmp_path):
    report = hostile_report()
    data = strict_loads(render_json(report))
    p = data["models"][0]["params"][0]
    assert p["max_abs_err"] == "NaN" and p["max_rel_err"] == "Infinity"
    assert data["models"][0]["diagnoses"][0]["evidence"] == {"x": "NaN"}
    path = tmp_path / "r.json"
    write_json(report, str(path))
    back = read_json(str(path)).models[0].params[0]
    assert math.isnan(back.max_abs_err) and back.max_rel_err == math.inf


def test_round_trip(tmp_path):
    report = sample_report()
    path = tmp_path / "deep" / "dir" / "report.json"
    write_json(report, str(path))
    back = read_json(str(path))
    assert back.to_json() == report.to_json()
    assert back.models[1].params[0].worst_index == [0, 3]
    assert back.models[1].diagnoses[0].confirmed is True
    assert render_json(back) == render_json(report)


def test_hostile_round_trip(tmp_path):
    report = hostile_report()
    path = tmp_path / "r.json"
    write_json(report, str(path))
    back = read_json(str(path))
    # every character kept but the lone surrogate, which is not valid UTF-8
    assert back.models[0].name == report.models[0].name.replace("\ud800", "\ufffd")
    assert render_json(back) == render_json(report)


def test_numpy_values_in_evidence_are_serialised():
    np = pytest.importorskip("numpy")
    report = sample_report()
    report.models[1].diagnoses[0].evidence = {
        "steps": np.int64(3),
        "ratio": np.float32(0.5),
        "grads": np.array([1.0, np.nan]),
    }
    evidence = strict_loads(render_json(report))["models"][1]["diagnoses"][0]["evidence"]
    assert evidence == {"steps": 3, "ratio": 0.5, "grads": [1.0, "NaN"]}


@pytest.mark.parametrize(
    "content",
    [
        "not json",
        "[1, 2]",
        '{"schema": "other/v9"}',
        '{"models": 3}',
        '{"models": [{"name": "x"}]}',
    ],
)
def test_read_rejects_what_is_not_a_report(tmp_path, content):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(ValueError):
        read_json(str(path))


def test_merge_orders_by_config_line_then_name_and_dedups_config_errors():
    e = ErrorInfo("unknown key", file="gradcheck.yml", line=3, kind="config")
    a = RunReport(
        config_file="gradcheck.yml",
        shard="1/2",
        seconds=2.0,
        config_errors=[e],
        models=[model("b", "pass", line=10), model("z", "pass", line=None)],
    )
    b = RunReport(
        config_file="gradcheck.yml",
        shard="2/2",
        seconds=3.0,
        config_errors=[
            ErrorInfo("unknown key", file="gradcheck.yml", line=3, kind="config"),
            ErrorInfo("other", line=4),
        ],
        models=[
            model("a", "fail", line=10, params=[param("L.W", "fail")]),
            model("c", "pass", line=2),
        ],
    )
    merged = merge_reports([a, b])
    assert [m.name for m in merged.models] == ["c", "a", "b", "z"]
    assert [x.message for x in merged.config_errors] == ["unknown key", "other"]
    assert merged.shard is None and merged.seconds == 5.0 and merged.config_file == "gradcheck.yml"
    assert merged.status == "error"


def test_merge_of_nothing_is_an_error():
    with pytest.raises(ValueError):
        merge_reports([])
