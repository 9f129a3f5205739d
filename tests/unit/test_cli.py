"""The CLI in-process: argument parsing, usage and internal errors, config problems met by `check`,
report writing and `merge`, and `validate` on arbitrary input. The CLI run as a subprocess:
tests/integration."""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gradcheck_ci.commands import cli, helptext
from gradcheck_ci.core.results import ErrorInfo, ModelResult, RunReport
from gradcheck_ci.process import runner


def write_repo(root: Path, config: str, files: dict[str, str] | None = None) -> Path:
    for name, text in (files or {}).items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(textwrap.dedent(text))
    (root / "gradcheck.yml").write_text(textwrap.dedent(config).lstrip())
    return root


# ------------------------------------------------------------------------------------------- usage


@pytest.mark.parametrize("text, expected", [(None, None), ("1/1", (1, 1)), ("2/4", (2, 4))])
def test_parse_shard(text, expected):
    assert cli.parse_shard(text) == expected


@pytest.mark.parametrize(
    "text, message",
    [
        ("2", "must look like 1/4"),
        ("a/b", "must look like 1/4"),
        ("0/2", "between 1 and 2"),
        ("3/2", "between 1 and 2"),
        ("1/0", "between 1 and 1"),
    ],
)
def test_parse_shard_rejects(text, message):
    with pytest.raises(cli.UsageError, match=message):
        cli.parse_shard(text)


def test_usage_errors_exit_2_with_one_line(capsys, tmp_path):
    assert cli.main(["check", "--shard", "x"]) == 2
    assert cli.main(["check", "--root", str(tmp_path / "nowhere")]) == 2
    assert cli.main(["frobnicate"]) == 2
    err = capsys.readouterr().err
    assert (
        "--shard must look like 1/4" in err and "not a directory" in err and "invalid choice" in err
    )
    assert "Traceback" not in err


def test_a_report_path_that_would_replace_the_config_or_another_report_is_refused(capsys, tmp_path):
    config = tmp_path / "gradcheck.yml"
    config.write_text("version: 1\nmodels: []\n")
    report = str(tmp_path / "r.json")
    assert cli.main(["check", "--config", str(config), "--json", str(config)]) == 2
    assert cli.main(["check", "--config", str(config), "--json", report, "--junit", report]) == 2
    assert cli.main(["merge", report, "--json", report, "--sarif", report]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err == [
        f"gradcheck-ci: error: --json {config}: this run reads that file; the report would replace "
        f"it",
        f"gradcheck-ci: error: --junit {report}: --json writes its report to the same file",
        f"gradcheck-ci: error: --sarif {report}: --json writes its report to the same file",
    ]
    assert config.read_text() == "version: 1\nmodels: []\n"


def test_an_internal_error_is_one_line_and_exit_2(capsys, monkeypatch):
    def boom(args):
        raise RuntimeError("something of ours broke")

    monkeypatch.setattr(cli, "cmd_validate", boom)
    monkeypatch.delenv("GRADCHECK_CI_DEBUG", raising=False)
    assert cli.main(["validate"]) == 2
    err = capsys.readouterr().err
    assert "internal error (please report it): RuntimeError: something of ours broke" in err
    assert "GRADCHECK_CI_DEBUG=1" in err and "Traceback" not in err
    monkeypatch.setenv("GRADCHECK_CI_DEBUG", "1")
    with pytest.raises(RuntimeError):
        cli.main(["validate"])


# ------------------------------------------------------------------------ config problems in
# `check`


def test_check_prints_each_invalid_entry_and_reports_it_once(tmp_path, capsys, monkeypatch):
    repo = write_repo(
        tmp_path,
        """
        version: 1
        models:
          - name: net
            factory: models/net.py:build
            seed: -1
            precision: float46
        """,
        {"models/net.py": "def build():\n    pass\n"},
    )
    monkeypatch.chdir(repo)
    assert cli.main(["check", "--json", "r.json"]) == 2
    out = capsys.readouterr().out
    assert "ERROR net" in out and "config error at gradcheck.yml:5" in out
    assert (
        "seed must be an integer from 0 to 4,294,967,295" in out
        and ("line 6: precision must be one of") in out
    )
    [model] = json.loads((repo / "r.json").read_text())["models"]
    assert model["status"] == "error" and model["error"]["line"] == 5
    assert "precision must be one of float64, float32" in model["error"]["message"]


def test_check_prints_the_configs_problems_first_as_validate_does(tmp_path, capsys, monkeypatch):
    repo = write_repo(
        tmp_path,
        """
        version: 1
        defaults:
          sede: 3
        models:
          - name: net
            factory: models/net.py:build
            kwarg: {units: 3}
        """,
        {"models/net.py": "def build():\n    pass\n"},
    )
    monkeypatch.chdir(repo)
    assert cli.main(["validate"]) == 2
    validated = capsys.readouterr().err.splitlines()
    assert cli.main(["check"]) == 2
    lines = capsys.readouterr().out.splitlines()
    assert (
        lines[:2]
        == validated[:2]
        == [
            "gradcheck.yml:3:3: unknown key 'sede' in defaults (did you mean 'seed'?)",
            "gradcheck.yml:7:5: unknown key 'kwarg' in model 'net' (did you mean 'kwargs'?)",
        ]
    )
    assert lines[2] == (
        "gradcheck.yml: 2 problem(s): the run ends with exit 2 (the valid models are still checked)"
    )
    assert lines[3] == (
        "gradcheck-ci: checking 0 of 1 model(s) from gradcheck.yml (1 not run: "
        "problems in their entries)"
    )
    assert (
        "gradcheck-ci: 1 model(s): 0 pass, 0 fail, 0 expected-fail, 1 error, 0 cancelled"
        in "\n".join(lines)
    )
    assert sum("unknown key 'sede'" in line for line in lines) == 1  # not repeated at the end


def test_unwritable_report_fails_before_any_model_runs(tmp_path, capsys, monkeypatch):
    repo = write_repo(
        tmp_path,
        """
        version: 1
        models:
          - name: net
            factory: models/net.py:build
        """,
        {"models/net.py": "def build():\n    pass\n"},
    )
    (repo / "file").write_text("")
    monkeypatch.chdir(repo)
    monkeypatch.setattr(runner.Runner, "run", lambda *a, **k: pytest.fail("no model may run"))
    assert cli.main(["check", "--json", "file/report.json"]) == 2
    err = capsys.readouterr().err
    assert "cannot write the report --json file/report.json" in err and "is not a directory" in err


# ------------------------------------------------------------------------------------------- merge

PLAN = {"config_sha256": "ab12", "models": ["a", "b", "bad", "rnn", "mlp"]}


def _report(
    models: list[ModelResult],
    shard: str | None = None,
    plan: dict | None = None,
    version: str = "0.1.0",
) -> dict:
    plan = plan or dict(PLAN, models=sorted({m.name for m in models} | {"a", "b", "bad"}))
    return RunReport(
        config_file="gradcheck.yml", models=models, shard=shard, version=version, plan=plan
    ).to_json()


def test_merge_keeps_an_invalid_entry_reported_by_every_shard_once(tmp_path, capsys):
    invalid = ModelResult(
        name="bad",
        factory="",
        status="error",
        seed=0,
        precision="float64",
        mode="auto",
        error=ErrorInfo("seed must be an integer >= 0", "gradcheck.yml", 5, "config"),
        config_file="gradcheck.yml",
        config_line=5,
    )
    ok = [
        ModelResult(
            name=n,
            factory="f.py:f",
            status="pass",
            seed=0,
            precision="float64",
            mode="full",
            config_line=line,
        )
        for n, line in (("a", 3), ("b", 7))
    ]
    (tmp_path / "1.json").write_text(json.dumps(_report([invalid, ok[0]], "1/2")))
    (tmp_path / "2.json").write_text(json.dumps(_report([invalid, ok[1]], "2/2")))
    code = cli.main(
        [
            "merge",
            str(tmp_path / "1.json"),
            str(tmp_path / "2.json"),
            "--json",
            str(tmp_path / "m.json"),
        ]
    )
    assert code == 2
    merged = json.loads((tmp_path / "m.json").read_text())
    assert [m["name"] for m in merged["models"]] == ["a", "bad", "b"]


def test_merge_of_something_else_is_a_usage_error(tmp_path, capsys):
    (tmp_path / "x.json").write_text("[1, 2")
    assert cli.main(["merge", str(tmp_path / "x.json"), "--json", str(tmp_path / "m.json")]) == 2
    assert (
        cli.main(["merge", str(tmp_path / "missing.json"), "--json", str(tmp_path / "m.json")]) == 2
    )
    err = capsys.readouterr().err
    assert (
        "cannot read report" in err
        and "No such file or directory" in err
        and "Traceback" not in err
    )


def _shards(tmp_path: Path) -> list[str]:
    failing = ModelResult(
        name="rnn",
        factory="models/rnn.py:build",
        status="fail",
        seed=0,
        precision="float64",
        mode="full",
        config_line=3,
        config_file="gradcheck.yml",
    )
    passing = ModelResult(
        name="mlp",
        factory="models/mlp.py:build",
        status="pass",
        seed=0,
        precision="float64",
        mode="full",
        config_line=7,
        config_file="gradcheck.yml",
    )
    paths = []
    for index, model in enumerate((failing, passing), start=1):
        path = tmp_path / f"gradcheck-report-{index}.json"
        path.write_text(
            json.dumps(_report([model], f"{index}/2", dict(PLAN, models=["mlp", "rnn"])))
        )
        paths.append(str(path))
    return paths


def test_merge_writes_every_report_format(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    code = cli.main(
        [
            "merge",
            *_shards(tmp_path),
            "--json",
            str(tmp_path / "m.json"),
            "--junit",
            str(tmp_path / "m.xml"),
            "--sarif",
            str(tmp_path / "m.sarif"),
        ]
    )
    assert code == 1  # a failing model in one shard fails the merged run
    assert json.loads((tmp_path / "m.json").read_text())["status"] == "fail"
    assert "<testsuite" in (tmp_path / "m.xml").read_text()
    sarif = json.loads((tmp_path / "m.sarif").read_text())
    assert [r["ruleId"] for r in sarif["runs"][0]["results"]] == ["gradient-mismatch"]
    # outside Actions the merged run's root is unknown: %SRCROOT% is declared, without a uri
    assert "uri" not in sarif["runs"][0]["originalUriBaseIds"]["%SRCROOT%"]
    assert "merged 2 report(s), 2 model(s): fail" in capsys.readouterr().out


def test_merge_needs_somewhere_to_write(tmp_path, capsys):
    assert cli.main(["merge", *_shards(tmp_path)]) == 2
    assert "--json, --junit, --sarif" in capsys.readouterr().err


def test_merge_under_actions_writes_outputs_and_a_summary_but_no_annotations(
    tmp_path, capsys, monkeypatch
):
    from tests.actions_log import effective_commands, parse_output_file

    output, summary = tmp_path / "output", tmp_path / "summary"
    output.write_text("")
    summary.write_text("")
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_OUTPUT", str(output))
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    monkeypatch.setenv("GITHUB_WORKSPACE", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    assert (
        cli.main(
            ["merge", *_shards(tmp_path), "--json", "reports/all.json", "--sarif", "all.sarif"]
        )
        == 1
    )
    assert parse_output_file(output.read_text()) == {
        "status": "fail",
        "failed-models": "rnn",
        "report": "reports/all.json",
    }
    assert "rnn" in summary.read_text() and "mlp" in summary.read_text()
    # the shards made them
    assert not [c for c in effective_commands(capsys.readouterr().out) if c.name == "error"]
    sarif = json.loads((tmp_path / "all.sarif").read_text())
    assert sarif["runs"][0]["originalUriBaseIds"]["%SRCROOT%"]["uri"] == tmp_path.as_uri() + "/"


def test_check_under_actions_writes_the_step_outputs(tmp_path, capsys, monkeypatch):
    from tests.actions_log import parse_output_file

    repo = write_repo(
        tmp_path,
        """
        version: 1
        models:
          - name: net
            factory: models/net.py:build
            seed: -1
        """,
        {"models/net.py": "def build():\n    pass\n"},
    )
    output = tmp_path / "output"
    output.write_text("")
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_OUTPUT", str(output))
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    monkeypatch.setenv("GITHUB_WORKSPACE", str(tmp_path))
    monkeypatch.chdir(repo)
    assert cli.main(["check", "--json", "out/r.json"]) == 2
    assert parse_output_file(output.read_text()) == {
        "status": "error",
        "failed-models": "net",
        "report": "out/r.json",
    }


def test_check_without_the_legacy_stack_says_which_extra_to_install(tmp_path, capsys, monkeypatch):
    from gradcheck_ci.platform import stack

    monkeypatch.setattr(
        stack,
        "stack_problem",
        lambda: "`check` needs Python 3.11 ...: pip install 'gradcheck-ci[check]'",
    )
    monkeypatch.chdir(write_repo(tmp_path, "version: 1\nmodels: []\n"))
    assert cli.main(["check"]) == 2
    err = capsys.readouterr().err
    assert "gradcheck-ci: error: `check` needs Python 3.11" in err and "gradcheck-ci[check]" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("command", [["init", "--stdout"], ["replay", "r.json", "--model", "x"]])
def test_init_and_replay_without_the_legacy_stack_say_which_extra_to_install(
    tmp_path, capsys, monkeypatch, command
):
    # they run models too: without the stack, init's trial worker "could not start" and replay
    # was an internal error
    from gradcheck_ci.platform import stack

    light = stack.stack_problem((3, 11), lambda name: "none", command=command[0])
    monkeypatch.setattr(stack, "stack_problem", lambda command="check": light)
    monkeypatch.chdir(write_repo(tmp_path, "version: 1\nmodels: []\n"))
    assert cli.main(command) == 2
    err = capsys.readouterr().err
    assert f"gradcheck-ci: error: `{command[0]}` needs the legacy stack" in err
    assert "gradcheck-ci[check]" in err and "Traceback" not in err


def test_cache_dir_reaches_the_workers_through_the_environment(tmp_path, monkeypatch):
    import os

    from gradcheck_ci.commands import run
    from gradcheck_ci.platform import cachedir

    seen = {}

    def fake_check(args, shard, console):  # what the workers would inherit
        seen["dir"] = os.environ.get(cachedir.CACHE_DIR_ENV)
        return 0

    monkeypatch.setattr(run, "check", fake_check)
    monkeypatch.setenv(cachedir.CACHE_DIR_ENV, "")  # so that monkeypatch restores what the CLI sets
    monkeypatch.delenv(cachedir.CACHE_DIR_ENV)
    monkeypatch.chdir(tmp_path)
    assert cli.main(["check", "--cache-dir", "ci/cache"]) == 0
    assert seen["dir"] == str(tmp_path / "ci" / "cache")
    assert cli.main(["check", "--cache-dir", " "]) == 2


def test_debug_shows_the_traceback_behind_a_usage_error(tmp_path, capsys, monkeypatch):
    (tmp_path / "x.json").write_text("[1, 2")
    monkeypatch.setenv("GRADCHECK_CI_DEBUG", "1")
    assert cli.main(["merge", str(tmp_path / "x.json"), "--json", str(tmp_path / "m.json")]) == 2
    err = capsys.readouterr().err
    # the one line, and behind it the JSON error that caused it (hidden by `from None` without the
    # debug flag)
    assert "cannot read report" in err and "Traceback" in err and "JSONDecodeError" in err


# ------------------------------------------------------------------ arbitrary input, end to end

YAML_PIECES = st.sampled_from(
    [
        "version: 1\n",
        "models:\n",
        "  - name: m\n",
        "    factory: models/net.py:build\n",
        "defaults:\n",
        "  seed: x\n",
        "- ",
        ": ",
        "{",
        "}",
        "[",
        "]",
        "&a ",
        "*a",
        "<<: ",
        "\t",
        "'",
        '"',
        "!!python/object:os.system ",
        "\n",
        "#",
        "  ",
        "é",
        "\x85",
    ]
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    text=st.one_of(st.lists(YAML_PIECES, max_size=30).map("".join), st.text(max_size=200)),
    raw=st.binary(max_size=40),
)
def test_validate_never_prints_a_traceback(tmp_path, capsys, text, raw):
    (tmp_path / "models").mkdir(exist_ok=True)
    (tmp_path / "models" / "net.py").write_text("def build():\n    pass\n")
    path = tmp_path / "gradcheck.yml"
    path.write_bytes(text.encode("utf-8", "surrogatepass") + raw)
    code = cli.main(["validate", "--config", str(path)])
    out, err = capsys.readouterr()
    assert code in (0, 2)
    assert "Traceback" not in out + err and "internal error" not in err
    if code == 2:  # every problem names the file
        assert all(line.startswith((str(path), "gradcheck.yml")) for line in err.splitlines()), err
    else:
        assert "valid, " in out


# ------------------------------------------------------------------------------------------- help
# pages


@pytest.mark.parametrize("command", ["check", "validate", "merge", "init", "replay", "docker"])
def test_every_help_page_says_what_the_command_does_and_its_exit_codes(command, capsys):
    try:
        code = cli.main([command, "--help"])  # docker parses its own arguments and returns
    except SystemExit as done:  # argparse's help exits
        code = done.code
    assert code in (0, None)
    page = capsys.readouterr().out
    usage, _, rest = page.partition("\n\n")
    assert usage.startswith(f"usage: gradcheck-ci {command}")
    assert rest.split("\n\n")[0].replace("\n", " ") == helptext.description(command).replace(
        "\n", " "
    )
    assert "exit codes:\n" in page and "\n  0" in page and "\n  2  " in page


def test_docker_help_is_built_like_the_others(capsys):
    # docker.py's own parsing: --help before any check argument
    assert cli.main(["docker", "--help"]) == 0
    page = capsys.readouterr().out
    assert page.startswith(
        "usage: gradcheck-ci docker [-h] [--image NAME] [--rebuild] [--context DIR]"
    )
    assert (
        "options:\n" in page
        and "  --rebuild " in page
        and page.rstrip().endswith("or a usage error")
    )


def test_report_arguments_have_help_text(capsys):
    for command in ("merge", "replay"):
        with pytest.raises(SystemExit):
            cli.main([command, "--help"])
        page = capsys.readouterr().out
        positional = page.split("positional arguments:\n")[1].split("\n\n")[0]
        assert positional.strip().startswith("REPORT.json") and len(positional.split()) > 3, page


def test_check_without_a_config_suggests_init(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert cli.main(["check"]) == 2
    out = capsys.readouterr()
    assert (
        "file not found: gradcheck.yml; `gradcheck-ci init` writes a starting one"
        in out.out + out.err
    )
    assert cli.main(["check", "--config", "ci/gradcheck.yml"]) == 2
    out = capsys.readouterr()
    assert "`gradcheck-ci init --config ci/gradcheck.yml`" in out.out + out.err


CHECK_ERROR_CASES = {  # the cases of docs/config.md's "Errors" example, by their comment there
    "models: [ left open": "version: 1\nmodels: [\n",
    "an entry with seed: true": "version: 1\nmodels:\n  - name: a\n    factory: m.py:f\n    seed: "
    "true\n",
}


def test_the_check_error_format_in_docs_config_is_what_check_prints(tmp_path, monkeypatch, capsys):
    docs = (Path(__file__).parents[2] / "docs" / "config.md").read_text(encoding="utf-8")
    example = docs.split("## Errors", 1)[1].split("```text\n", 1)[1].split("```", 1)[0]
    cases = [part.split("\n", 1) for part in example.split("$ gradcheck-ci check      # ")[1:]]
    assert [name for name, _ in cases] == list(CHECK_ERROR_CASES)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "m.py").write_text("def f():\n    pass\n", encoding="utf-8")
    for name, expected in cases:
        (tmp_path / "gradcheck.yml").write_text(CHECK_ERROR_CASES[name], encoding="utf-8")
        assert cli.main(["check"]) == 2
        out = capsys.readouterr()
        # every line, in order: the example drops none
        assert (out.err + out.out).splitlines() == expected.strip("\n").splitlines(), name


def test_a_report_written_to_standard_output_gets_it_alone(tmp_path, monkeypatch, capsys):
    """`--json -` pipes into a JSON reader: the run's text goes to standard error instead."""
    import json

    monkeypatch.chdir(tmp_path)
    (tmp_path / "m.py").write_text("def f():\n    pass\n", encoding="utf-8")
    (tmp_path / "gradcheck.yml").write_text(CHECK_ERROR_CASES["an entry with seed: true"])
    assert cli.main(["check", "--json", "-"]) == 2
    out = capsys.readouterr()
    assert json.loads(out.out)["status"] == "error"
    assert "result: ERROR (exit 2)" in out.err


def test_replay_takes_the_cache_dir_check_takes(tmp_path, monkeypatch):
    # replay recompiled everything in the default cache: it had no --cache-dir
    from gradcheck_ci.platform import cachedir

    # set through monkeypatch first, so that the test's end takes away what use_cache_dir sets: the
    # integration tests run in this process after it
    monkeypatch.setenv(cachedir.CACHE_DIR_ENV, "before")
    args = cli.build_parser().parse_args(
        ["replay", "r.json", "--model", "m", "--cache-dir", str(tmp_path / "c")]
    )
    cli.use_cache_dir(args)
    assert os.environ[cachedir.CACHE_DIR_ENV] == os.path.abspath(tmp_path / "c")
    args.cache_dir = " "
    with pytest.raises(cli.UsageError, match="--cache-dir needs a directory"):
        cli.use_cache_dir(args)
