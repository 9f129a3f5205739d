"""The Actions adapter (entrypoint/), without Docker and without a CLI process.

The CLI is replaced by a stub that writes a report, so these run in milliseconds; starting the real
CLI process is tests/integration/test_entrypoint.py, and the action image itself tests/container.
"""

from __future__ import annotations

import json
import os

import pytest

from entrypoint import cache, inputs, workflow
from entrypoint import main as entry
from gradcheck_ci.platform import cachedir
from gradcheck_ci.report import github
from tests.actions_log import effective_commands, parse_output_file

# ---- workflow commands and file commands
# ------------------------------------------------------------


def test_escaping_follows_the_runner():
    assert github.escape_data("50% done\r\nnext") == "50%25 done%0D%0Anext"
    assert github.escape_property("a:b,c%\n") == "a%3Ab%2Cc%25%0A"
    line = github.command("error", "bad\nthing", file="models/x.py", line=3, title="gc: x, y")
    assert line == "::error file=models/x.py,line=3,title=gc%3A x%2C y::bad%0Athing"
    [parsed] = effective_commands(line)
    assert parsed.properties == {"file": "models/x.py", "line": "3", "title": "gc: x, y"}
    assert parsed.message == "bad\nthing"


def test_output_block_uses_a_random_delimiter_not_in_the_value(tmp_path):
    block = github.output_block("failed-models", "a\nb")
    name, rest = block.split("<<", 1)
    delimiter = rest.split("\n", 1)[0]
    assert name == "failed-models" and delimiter.startswith("ghadelimiter_") and len(delimiter) > 20
    assert github.output_block("x", "v") != github.output_block("x", "v")
    out = tmp_path / "out"
    workflow.write_outputs(
        {"status": "fail", "failed-models": "a,b", "report": ""}, {"GITHUB_OUTPUT": str(out)}
    )
    assert parse_output_file(out.read_text()) == {
        "status": "fail",
        "failed-models": "a,b",
        "report": "",
    }


# ---- inputs
# -----------------------------------------------------------------------------------------


def plan_for(tmp_path, **given):
    env = {"GITHUB_WORKSPACE": str(tmp_path)}
    env.update({f"INPUT_{k.upper().replace('_', '-')}": v for k, v in given.items()})
    return inputs.plan(env, str(tmp_path), str(tmp_path / "tmp-report.json"))


def test_defaults_give_a_plain_check(tmp_path):
    plan = plan_for(tmp_path)
    assert plan.errors == []
    assert plan.cwd == str(tmp_path)
    assert plan.argv == [
        "check",
        "--config",
        "gradcheck.yml",
        "--format",
        "github",
        "--json",
        "gradcheck-report.json",
        "--cache-dir",
        str(tmp_path / ".gradcheck-ci-cache"),
    ]
    assert plan.report_output == "gradcheck-report.json"
    assert plan.cache_dir == str(tmp_path / ".gradcheck-ci-cache") and not plan.merging


def test_every_input_reaches_the_cli(tmp_path):
    (tmp_path / "sub").mkdir()
    plan = plan_for(
        tmp_path,
        config="ci/gc.yml",
        models="a, b*\n c",
        working_directory="sub",
        json_report="out/r.json",
        junit_report="j.xml",
        sarif_report="s.sarif",
        shard=" 2/3 ",
        fail_on_expected="true",
        cache_dir="ci-cache/gc",
    )
    assert plan.errors == []
    assert plan.cwd == str(tmp_path / "sub")
    # cache-dir is relative to the repository (where actions/cache finds it), the others to
    # working-directory
    assert plan.argv == [
        "check",
        "--config",
        "ci/gc.yml",
        "--format",
        "github",
        "--model",
        "a",
        "--model",
        "b*",
        "--model",
        "c",
        "--json",
        "out/r.json",
        "--junit",
        "j.xml",
        "--sarif",
        "s.sarif",
        "--shard",
        "2/3",
        "--fail-on-expected",
        "--cache-dir",
        str(tmp_path / "ci-cache" / "gc"),
    ]
    assert plan.json_report == str(tmp_path / "sub" / "out" / "r.json")
    assert plan.report_output == "sub/out/r.json"


def test_pass_env_names_what_the_models_code_may_see(tmp_path):
    plan = plan_for(tmp_path, pass_env="WANDB_*, MY_DATA_DIR", cache_dir="")
    assert plan.errors == [] and plan.argv[-4:] == [
        "--pass-env",
        "WANDB_*",
        "--pass-env",
        "MY_DATA_DIR",
    ]
    assert "--pass-env" not in plan_for(tmp_path).argv  # default: the environment without secrets
    assert "'pass-env': 'A=B'" in plan_for(tmp_path, pass_env="A=B").errors[0]


def test_hyphenated_and_underscored_input_names(tmp_path):
    env = {
        "GITHUB_WORKSPACE": str(tmp_path),
        "INPUT_FAIL-ON-EXPECTED": "TRUE",
        "INPUT_JSON_REPORT": "x.json",
    }
    plan = inputs.plan(env, str(tmp_path), "/tmp/unused.json")
    assert "--fail-on-expected" in plan.argv and plan.report_output == "x.json"


def test_empty_json_report_keeps_none(tmp_path):
    plan = plan_for(tmp_path, json_report="", cache_dir="")
    assert plan.report_output == "" and plan.json_report == str(tmp_path / "tmp-report.json")
    assert plan.argv[-2:] == ["--json", plan.json_report]
    assert plan.cache_dir == ""  # an empty cache-dir keeps no cache: no --cache-dir


def test_merge_input_merges_the_named_reports(tmp_path):
    for name in ("gradcheck-report-2.json", "gradcheck-report-1.json", "other.json"):
        (tmp_path / name).write_text("{}")
    plan = plan_for(
        tmp_path,
        merge="gradcheck-report-*.json, other.json gradcheck-report-1.json",
        sarif_report="all.sarif",
    )
    assert plan.errors == [] and plan.merging and plan.cache_dir == ""
    assert plan.argv == [
        "merge",
        "gradcheck-report-1.json",
        "gradcheck-report-2.json",
        "other.json",
        "--format",
        "github",
        "--json",
        "gradcheck-report.json",
        "--sarif",
        "all.sarif",
    ]


def test_merge_never_reads_its_own_output(tmp_path):
    (tmp_path / "a.json").write_text("{}")
    (tmp_path / "merged.json").write_text("{}")  # last run's merged report
    plan = plan_for(tmp_path, merge="*.json", json_report="merged.json")
    assert plan.errors == [] and plan.argv[:3] == ["merge", "a.json", "--format"]
    plan = plan_for(tmp_path, merge="merged.json", json_report="merged.json")
    assert len(plan.errors) == 1 and "merge" in plan.errors[0]


@pytest.mark.parametrize(
    "given, needle",
    [
        ({"merge": "shard-*.json"}, "no file matches 'shard-*.json'"),
        ({"merge": "*.json", "shard": "1/2"}, "'shard' does not apply"),
        ({"merge": "*.json", "models": "a"}, "'models' does not apply"),
    ],
)
def test_bad_merge_inputs(tmp_path, given, needle):
    (tmp_path / "a.json").write_text("{}")
    plan = plan_for(tmp_path, **given)
    assert len(plan.errors) == 1 and needle in plan.errors[0], plan.errors


def test_cache_dir_that_is_a_file_is_an_error(tmp_path):
    (tmp_path / "cache").write_text("not a directory")
    plan = plan_for(tmp_path, cache_dir="cache")
    assert len(plan.errors) == 1 and "cache-dir" in plan.errors[0]


@pytest.mark.parametrize(
    "given, needle",
    [
        ({"shard": "3/2"}, "shard"),
        ({"shard": "0/2"}, "shard"),
        ({"shard": "1/0"}, "shard"),
        ({"shard": "one/two"}, "shard"),
        ({"fail_on_expected": "maybe"}, "fail-on-expected"),
        ({"fail_on_expected": "yes"}, "fail-on-expected"),
        ({"working_directory": "nope"}, "working-directory"),
    ],
)
def test_bad_inputs(tmp_path, given, needle):
    plan = plan_for(tmp_path, **given)
    assert len(plan.errors) == 1 and needle in plan.errors[0]


# ---- the action flow, with a stub CLI
# ---------------------------------------------------------------


@pytest.fixture
def actions_env(tmp_path, monkeypatch):
    workspace = tmp_path / "ws"
    workspace.mkdir()
    files = {"GITHUB_OUTPUT": tmp_path / "output", "GITHUB_STEP_SUMMARY": tmp_path / "summary"}
    for path in files.values():
        path.write_text("")
    env = {
        "GITHUB_ACTIONS": "true",
        "GITHUB_WORKSPACE": str(workspace),
        **{k: str(v) for k, v in files.items()},
    }
    monkeypatch.chdir(workspace)
    return env, workspace, files


def stub_cli(monkeypatch, code: int, report: dict | None, summary: str | None = None):
    calls = []

    def fake_run_cli(argv, cwd=None, env=None):
        calls.append((list(argv), cwd, env))
        if report is not None:
            path = argv[argv.index("--json") + 1]
            with open(os.path.join(cwd, path), "w") as handle:
                json.dump(report, handle)
        if summary is not None:
            with open(os.environ["GITHUB_STEP_SUMMARY"], "a") as handle:
                handle.write(summary)
        return code

    monkeypatch.setattr(entry, "run_cli", fake_run_cli)
    # no `g++ --version` in unit tests
    monkeypatch.setattr(cachedir, "cache_tag", lambda environ=None: "stack")
    return calls


def outputs(files) -> dict[str, str]:
    return parse_output_file(files["GITHUB_OUTPUT"].read_text())


def test_action_writes_outputs_from_the_report(actions_env, monkeypatch):
    env, workspace, files = actions_env
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", env["GITHUB_STEP_SUMMARY"])
    report = {
        "status": "fail",
        "models": [
            {"name": "a", "status": "fail"},
            {"name": "b", "status": "pass"},
            {"name": "c", "status": "error"},
            {"name": "d", "status": "expected-fail"},
        ],
    }
    calls = stub_cli(monkeypatch, 1, report, summary="## from the CLI\n")
    assert entry.main([], env) == 1
    assert calls[0][1] == str(workspace)
    key = cache.cache_key(str(workspace), str(workspace / ".gradcheck-ci-cache"), "stack")
    assert outputs(files) == {
        "status": "fail",
        "failed-models": "a,c",
        "report": "gradcheck-report.json",
        "cache-key": key,
    }
    assert key.startswith("gradcheck-ci-stack-")
    assert files["GITHUB_STEP_SUMMARY"].read_text() == "## from the CLI\n"  # no fallback added
    # The outputs are the adapter's: the CLI child runs without GITHUB_OUTPUT, keeping the summary.
    child_env = calls[0][2]
    assert (
        "GITHUB_OUTPUT" not in child_env
        and child_env["GITHUB_STEP_SUMMARY"] == env["GITHUB_STEP_SUMMARY"]
    )


def test_a_crash_is_not_a_verdict(actions_env, monkeypatch, capsys):
    env, _, files = actions_env
    stub_cli(monkeypatch, 1, None)  # a traceback exits 1 too, but writes no report
    assert entry.main([], env) == 2
    assert outputs(files)["status"] == "error"
    [command] = effective_commands(capsys.readouterr().out)
    assert command.name == "error" and "crash" in command.message
    assert "Status: error" in files["GITHUB_STEP_SUMMARY"].read_text()


def test_a_killed_cli_is_an_error(actions_env, monkeypatch):
    env, _, files = actions_env
    stub_cli(monkeypatch, -9, None)
    assert entry.main([], env) == 2
    written = outputs(files)
    # what the killed run compiled may still be saved: the key is there
    assert written.pop("cache-key").startswith("gradcheck-ci-stack-")
    assert written == {"status": "error", "failed-models": "", "report": ""}


def test_a_stale_report_is_never_read(actions_env, monkeypatch):
    env, workspace, files = actions_env
    (workspace / "gradcheck-report.json").write_text(json.dumps({"status": "pass", "models": []}))
    stub_cli(monkeypatch, 2, None)
    assert entry.main([], env) == 2
    assert outputs(files)["status"] == "error" and outputs(files)["report"] == ""


def test_bad_input_gives_an_error_annotation_and_exit_2(actions_env, monkeypatch, capsys):
    env, _, files = actions_env
    calls = stub_cli(monkeypatch, 0, {"status": "pass", "models": []})
    assert entry.main([], {**env, "INPUT_SHARD": "3/2"}) == 2
    assert calls == []
    [command] = effective_commands(capsys.readouterr().out)
    assert command.name == "error" and "shard" in command.message
    assert outputs(files)["status"] == "error" and outputs(files)["cache-key"] == ""


def test_outside_actions_arguments_pass_straight_through(monkeypatch):
    seen = []
    monkeypatch.setattr(
        entry, "run_cli", lambda argv, cwd=None, env=None: seen.append(list(argv)) or 0
    )
    assert entry.main(["validate", "--config", "x.yml"], {}) == 0
    assert entry.main([], {}) == 0
    # explicit args win under Actions too
    assert entry.main(["check"], {"GITHUB_ACTIONS": "true"}) == 0
    assert seen == [["validate", "--config", "x.yml"], ["check"], ["check"]]


# ---- the cache directory, seen from the workflow
# -------------------------------------------------------


def test_cache_key_follows_the_models_and_the_stack_only(tmp_path):
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "rnn.py").write_text("def build(): pass\n")
    (tmp_path / "gradcheck.yml").write_text("version: 1\n")
    cache_dir = tmp_path / ".gradcheck-ci-cache"
    key = cache.cache_key(str(tmp_path), str(cache_dir), "py3.11-stack")
    assert key.startswith("gradcheck-ci-py3.11-stack-")
    # what a run leaves behind changes nothing: the cache itself, reports, bytecode, hidden folders
    (cache_dir / "theano").mkdir(parents=True)
    (cache_dir / "theano" / "key.yml").write_text("x")
    (tmp_path / "gradcheck-report.json").write_text("{}")
    (tmp_path / "models" / "__pycache__").mkdir()
    (tmp_path / "models" / "__pycache__" / "rnn.py").write_text("x")
    (tmp_path / ".github").mkdir()
    (tmp_path / ".github" / "ci.yml").write_text("on: push\n")
    assert cache.cache_key(str(tmp_path), str(cache_dir), "py3.11-stack") == key
    assert cache.cache_key(str(tmp_path), str(cache_dir), "py3.12-stack") != key  # another image
    (tmp_path / "models" / "rnn.py").write_text("def build(): return 1\n")
    # the models changed
    assert cache.cache_key(str(tmp_path), str(cache_dir), "py3.11-stack") != key
    # each shard restores and saves its own: a prefix per shard
    assert cache.cache_key(str(tmp_path), str(cache_dir), "py3.11-stack", "2/4").startswith(
        "gradcheck-ci-shard-2-of-4-py3.11-stack-"
    )
    edited = cache.cache_key(str(tmp_path), str(cache_dir), "py3.11-stack")
    (tmp_path / "gradcheck.yml").write_text("version: 1\nmodels: []\n")
    # the config changed
    assert cache.cache_key(str(tmp_path), str(cache_dir), "py3.11-stack") != edited


def test_make_readable_opens_what_root_wrote_for_the_runner(tmp_path):
    module = tmp_path / "cache" / "theano" / "tmpabc123"
    module.mkdir(parents=True)
    (module / "key.pkl").write_bytes(b"k")
    module.chmod(0o700)  # what Theano's mkdtemp leaves
    (module / "key.pkl").chmod(0o600)
    cache.make_readable(str(tmp_path / "cache"))
    assert module.stat().st_mode & 0o055 == 0o055
    assert (module / "key.pkl").stat().st_mode & 0o044 == 0o044
