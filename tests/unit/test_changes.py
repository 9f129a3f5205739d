"""`--changed-since`: which models a change can have touched, decided from the record (no git here:
the changed files are given; tests/integration/test_changed_since.py runs git for real)."""

from __future__ import annotations

import hashlib

from entrypoint import inputs
from gradcheck_ci.commands.changes import Changes, select, why_check
from gradcheck_ci.core.results import ModelResult, ParamResult, RunReport, SkipInfo
from gradcheck_ci.report.text import render_model
from tests.samples import spec


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def repo(tmp_path, files: dict[str, str]):
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text, encoding="utf-8")
    return str(tmp_path)


def record(model_spec, files: dict[str, str], status="pass") -> ModelResult:
    return ModelResult(
        name=model_spec.name,
        factory=model_spec.factory,
        status=status,
        seed=0,
        precision="float64",
        mode="directional",
        spec=model_spec.as_checked(),
        files={path: digest(text) for path, text in files.items()},
    )


FILES = {
    "models/a.py": "A",
    "models/b.py": "B",
    "models/c.py": "C",
    "models/common.py": "shared",
    "losses.py": "L",
}
IMPORTS = {
    "a": ["models/a.py", "models/common.py"],
    "b": ["models/b.py", "models/common.py"],
    "c": ["models/c.py", "losses.py"],
}


def three_models(tmp_path):
    root = repo(tmp_path, FILES)
    specs = [
        spec(name=name, factory=f"models/{name}.py:build", line=3 + 4 * i)
        for i, name in enumerate("abc")
    ]
    previous = RunReport(
        "gradcheck.yml",
        version="0.1.0",
        models=[record(s, {p: FILES[p] for p in IMPORTS[s.name]}) for s in specs],
    )
    return root, specs, previous


def run(specs, changed, previous, root, **kwargs):
    return select(
        specs,
        Changes("main", "abc123", set(changed), **kwargs),
        previous,
        None,
        root,
        "gradcheck.yml",
        "0.1.0",
    )


def test_a_change_rechecks_exactly_the_models_that_import_it(tmp_path):
    root, specs, previous = three_models(tmp_path)
    selection = run(specs, {"models/common.py"}, previous, root)
    assert [s.name for s in selection.to_check] == ["a", "b"]
    assert selection.reasons == {
        "a": "models/common.py changed since main",
        "b": "models/common.py changed since main",
    }
    [skipped] = selection.skipped
    assert (skipped.name, skipped.status, skipped.config_line) == ("c", "skipped", 11)
    assert skipped.skipped == SkipInfo(
        "unchanged",
        "none of the 2 file(s) it imports nor its gradcheck.yml entry changed since main",
        "pass",
    )
    assert skipped.files == previous.models[2].files and skipped.spec == specs[2].as_checked()
    assert selection.summary["message"] == (
        "1 file(s) changed since main (abc123): checking 2 of 3 model(s), 1 unchanged"
    )
    assert [s.name for s in run(specs, {"losses.py"}, previous, root).to_check] == ["c"]
    assert run(specs, {"README.md", "models/unused.py"}, previous, root).to_check == []


def test_a_record_older_than_the_reference_is_not_trusted(tmp_path):
    root, specs, previous = three_models(tmp_path)
    (tmp_path / "models" / "b.py").write_text(
        "B, edited after the record but before main", encoding="utf-8"
    )
    selection = run(specs, set(), previous, root)
    assert selection.reasons == {"b": "models/b.py changed since it was last checked"}
    (tmp_path / "losses.py").unlink()
    assert run(specs, set(), previous, root).reasons["c"] == (
        "losses.py changed since it was last checked"
    )


def test_entries_that_changed_are_checked(tmp_path):
    root, specs, previous = three_models(tmp_path)
    specs[0].data.steps = 7  # differs from what the record checked
    old = {s.name: s.as_checked() for s in specs}
    old["b"] = dict(old["b"], seed=3)  # differed at the reference, reverted since
    selection = run(specs, {"gradcheck.yml"}, previous, root, old_specs=old)
    assert selection.reasons == {
        "a": "its gradcheck.yml entry differs from the one last checked",
        "b": "its gradcheck.yml entry changed since main",
    }
    # lines alone change nothing
    moved = [spec(name=s.name, factory=s.factory, line=s.line + 10) for s in specs]
    assert run(moved, set(), previous, root).to_check == []


def test_no_usable_record_means_checking(tmp_path):
    root, specs, previous = three_models(tmp_path)
    previous.models[0].status = "error"
    previous.models[1].files = {}
    previous.models.pop()
    assert run(specs, set(), previous, root).reasons == {
        "a": "its last check ended error",
        "b": "the previous report does not record what it imports",
        "c": "no record of it in the previous report",
    }


def test_a_skipped_record_carries_forward_with_its_last_verdict(tmp_path):
    root, specs, previous = three_models(tmp_path)
    previous.models[2].status = "fail"
    first = run(specs, {"models/common.py"}, previous, root)
    second = run(
        specs,
        {"models/a.py"},
        RunReport("gradcheck.yml", version="0.1.0", models=previous.models[:2] + first.skipped),
        root,
    )
    assert [s.name for s in second.to_check] == ["a"]
    assert second.skipped[-1].name == "c" and second.skipped[-1].skipped.previous_status == "fail"


def test_a_known_failure_that_is_skipped_keeps_the_run_red(tmp_path):
    """Skipping an unchanged failing model must not turn the run green: it keeps `fail` and its
    findings."""
    root, specs, previous = three_models(tmp_path)
    previous.models[2].status = "fail"
    previous.models[2].params = [
        ParamResult("DenseLayer#0.W", [3, 2], "fail", 0.1, 0.1, 1e-6, [0, 0])
    ]
    selection = run(specs, {"models/common.py"}, previous, root)
    [kept] = selection.skipped
    assert (kept.name, kept.status, kept.skipped.previous_status) == ("c", "fail", "fail")
    assert kept.params == previous.models[2].params
    report = RunReport("gradcheck.yml", models=[kept], version="0.1.0")
    assert (report.status, report.exit_code) == ("fail", 1)
    assert "fail as last checked: none of the 2 file(s)" in render_model(kept)
    again = run(
        specs,
        {"models/a.py"},
        RunReport("gradcheck.yml", version="0.1.0", models=previous.models[:2] + [kept]),
        root,
    )
    # and next time too
    assert [(m.name, m.status) for m in again.skipped] == [("b", "skipped"), ("c", "fail")]


def test_untracked_scratch_files_are_not_counted_as_changes(tmp_path):
    root, specs, previous = three_models(tmp_path)
    changed = {"models/common.py", "notes.txt", "scratch/try.py", "models/c.py"}
    selection = run(
        specs, changed, previous, root, untracked={"notes.txt", "scratch/try.py", "models/c.py"}
    )
    # c.py is imported: it counts
    assert selection.summary["message"].startswith("2 file(s) changed since main")
    assert selection.summary["files"] == ["models/c.py", "models/common.py"]


def test_when_it_cannot_be_known_everything_is_checked(tmp_path):
    root, specs, previous = three_models(tmp_path)
    unknown = select(
        specs,
        Changes("feature", problem="'feature' is not in this clone"),
        None,
        None,
        root,
        "gradcheck.yml",
        "0.1.0",
    )
    assert unknown.to_check == specs and unknown.skipped == []
    assert unknown.message == "'feature' is not in this clone: checking every model"
    no_record = select(
        specs,
        Changes("main", "abc", set()),
        None,
        "no previous report at r.json",
        root,
        "gradcheck.yml",
        "0.1.0",
    )
    assert no_record.to_check == specs and no_record.message.startswith(
        "no previous report at r.json"
    )
    other = select(
        specs, Changes("main", "abc", set()), previous, None, root, "gradcheck.yml", "0.2.0"
    )
    assert other.to_check == specs and "written by gradcheck-ci 0.1.0, not 0.2.0" in other.message


def test_why_check_reads_only_what_it_is_given(tmp_path):
    root, specs, previous = three_models(tmp_path)
    assert why_check(specs[0], previous.models[0], Changes("main", "abc", set()), root) is None
    assert why_check(specs[0], None, Changes("main", "abc", set()), root) == (
        "no record of it in the previous report"
    )


def test_the_action_input_reaches_the_cli(tmp_path):
    env = {"GITHUB_WORKSPACE": str(tmp_path), "INPUT_CHANGED-SINCE": "  0123abcd  "}
    plan = inputs.plan(env, str(tmp_path), str(tmp_path / "tmp.json"))
    assert plan.errors == [] and plan.changed_since == "0123abcd"
    assert plan.argv[plan.argv.index("--changed-since") + 1] == "0123abcd"
    assert (
        "--changed-since"
        not in inputs.plan({"GITHUB_WORKSPACE": str(tmp_path)}, str(tmp_path), "t.json").argv
    )


def test_the_action_hands_last_runs_report_to_the_cli_as_the_record(tmp_path):
    from entrypoint.main import keep_previous_report

    (tmp_path / "gradcheck-report.json").write_text('{"models": []}', encoding="utf-8")
    env = {"GITHUB_WORKSPACE": str(tmp_path), "INPUT_CHANGED-SINCE": "0123abcd"}
    plan = inputs.plan(env, str(tmp_path), str(tmp_path / "tmp.json"))
    previous = keep_previous_report(plan)
    assert previous is not None and plan.argv[-2:] == ["--previous-report", previous]
    assert not (tmp_path / "gradcheck-report.json").exists()  # never mistaken for this run's report
    with open(previous, encoding="utf-8") as handle:
        assert handle.read() == '{"models": []}'
    without = inputs.plan(
        {"GITHUB_WORKSPACE": str(tmp_path)}, str(tmp_path), str(tmp_path / "tmp.json")
    )
    (tmp_path / "gradcheck-report.json").write_text("{}", encoding="utf-8")
    assert keep_previous_report(without) is None and (tmp_path / "gradcheck-report.json").exists()
