"""GitHub workflow commands: escaping, annotation choice and ranking, stop-commands,
$GITHUB_OUTPUT."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from gradcheck_ci.core.results import ErrorInfo, RunReport
from gradcheck_ci.report import github, text
from gradcheck_ci.report.common import clean_text
from gradcheck_ci.report.github import (
    annotations,
    command,
    escape_data,
    escape_property,
    stop_commands,
)
from tests.actions_log import REGISTERED, parse_v2, parsed_as_command, runner_lines
from tests.samples import HOSTILE, hostile_report, many_models, model, param, sample_report


def test_escapes_follow_the_runner():
    assert escape_data("100%\r\n") == "100%25%0D%0A"
    assert escape_data("%0A") == "%250A"  # '%' first, or a literal "%0A" would decode to a newline
    assert escape_property("a:b,c%\n") == "a%3Ab%2Cc%25%0A"


def test_command_orders_properties_and_skips_none():
    line = command("error", "msg", title="t", line=3, file="a.py", col=None, endLine=4)
    assert line == "::error file=a.py,line=3,endLine=4,title=t::msg"
    assert command("notice", "x") == "::notice::x"


def test_command_round_trips_hostile_text():
    line = command("warning", HOSTILE, file=HOSTILE, title=HOSTILE, line=2)
    assert "\n" not in line and "\r" not in line
    name, props, data = parse_v2(line)
    assert name == "warning"
    assert props["title"] == clean_text(HOSTILE) and props["file"] == clean_text(HOSTILE)
    assert data == clean_text(HOSTILE)


def test_command_caps_message_length():
    line = command("error", "%" * 10_000)
    _, _, data = parse_v2(line)
    assert len(data) <= github.MAX_MESSAGE and data.endswith("…")


def test_command_rejects_bad_names():
    for bad in ("error::", "er ror", "", "x,y"):
        try:
            command(bad, "m")
        except ValueError:
            continue
        raise AssertionError(bad)


def test_annotations_for_every_kind_of_model():
    lines, omitted = annotations(sample_report())
    assert omitted == 0
    parsed = [parse_v2(line) for line in lines]
    kinds = [p[0] for p in parsed]
    # Ranked: errors (config, model errors, failures by how far over tolerance), warnings, notices.
    assert kinds == ["error"] * 5 + ["warning"] * 2 + ["notice"]
    titles = [p[1]["title"] for p in parsed]
    assert titles[0] == "gradcheck-ci: config error"
    assert titles[1:3] == [
        "gradcheck-ci: broken-import load error",
        "gradcheck-ci: timeout timeout error",
    ]
    assert titles[3:5] == [
        "gradcheck-ci: seed-rnn-truncated gradient mismatch",
        "gradcheck-ci: no-cause gradient mismatch",
    ]
    assert titles[5] == "gradcheck-ci: fixed-now now passes"
    assert titles[7] == "gradcheck-ci: known-bad expected gradient mismatch"
    by_title = {p[1]["title"]: p for p in parsed}
    # Failure with a diagnosis: at the diagnosis; without: at the worst tensor's layer.
    props = by_title["gradcheck-ci: seed-rnn-truncated gradient mismatch"][1]
    assert (props["file"], props["line"]) == ("models/rnn.py", "21")
    assert by_title["gradcheck-ci: no-cause gradient mismatch"][1]["file"] == "models/custom.py"
    assert by_title["gradcheck-ci: no-cause gradient mismatch"][1]["line"] == "40"
    assert "seed=7" in by_title["gradcheck-ci: no-cause gradient mismatch"][2]
    # An error with a file: there; without one: the model's line in the config file.
    assert by_title["gradcheck-ci: broken-import load error"][1]["file"] == "models/broken.py"
    assert by_title["gradcheck-ci: timeout timeout error"][1] == {
        "file": "gradcheck.yml",
        "line": "29",
        "title": "gradcheck-ci: timeout timeout error",
    }
    assert by_title["gradcheck-ci: config error"][1]["line"] == "3"
    assert "truncated-bptt" in by_title["gradcheck-ci: seed-rnn-truncated gradient mismatch"][2]


def test_failure_without_any_location_falls_back_to_config_line():
    m = model(
        "m", "fail", params=[param("L.W", "fail", abs_err=1.0, file=None, line=None)], line=42
    )
    m.config_file = None
    (line,), _ = annotations(RunReport(config_file="./ci\\gradcheck.yml", models=[m]))
    assert parse_v2(line)[1]["file"] == "ci/gradcheck.yml" and parse_v2(line)[1]["line"] == "42"


def test_paths_are_repo_relative_with_forward_slashes():
    m = model(
        "m", "fail", params=[param("L.W", "fail", abs_err=1.0, file=".\\models\\a.py", line=0)]
    )
    (line,), _ = annotations(RunReport(config_file="gradcheck.yml", models=[m]))
    props = parse_v2(line)[1]
    assert props["file"] == "models/a.py" and "line" not in props  # line 0 means unknown


def test_at_most_max_per_kind_most_important_first():
    report = many_models(2000)
    bad = sum(1 for m in report.models if m.status in ("fail", "error"))
    assert bad == 60
    lines, omitted = annotations(report, max_per_kind=10)
    assert len(lines) == 10 and omitted == bad - 10
    assert all(line.startswith("::error ") for line in lines)
    titles = [parse_v2(line)[1]["title"] for line in lines]
    assert all(t.endswith("crash error") for t in titles)  # model errors outrank mismatches
    failures = RunReport(
        config_file="g.yml", models=[m for m in report.models if m.status == "fail"]
    )
    lines, _ = annotations(failures, max_per_kind=3)
    # Ranked by how far over tolerance: the later models have larger errors in this sample.
    assert [parse_v2(x)[1]["title"].split()[1] for x in lines] == [
        "model-01950",
        "model-01900",
        "model-01850",
    ]


def test_nan_gradients_rank_first():
    nan = model("nan", "fail", params=[param("L.W", "fail", abs_err=float("nan"))])
    big = model("big", "fail", params=[param("L.W", "fail", abs_err=1e9)])
    lines, omitted = annotations(RunReport(config_file="g.yml", models=[big, nan]), max_per_kind=1)
    assert omitted == 1 and "nan gradient mismatch" in lines[0]


def test_hostile_report_emits_only_its_own_commands():
    lines, _ = annotations(hostile_report())
    output = "\n".join(lines)
    physical = runner_lines(output)
    assert len(physical) == len(lines)
    for line in physical:
        name, props, data = parse_v2(line)
        assert name in ("error", "warning", "notice")
        assert set(props) <= {"file", "line", "title"}


def test_stop_commands_tokens_are_random_and_well_formed():
    start, end = stop_commands()
    token = start.split("::")[2]
    assert re.fullmatch(r"[0-9a-f]{32}", token) and end == f"::{token}::"
    assert stop_commands()[0] != start
    assert stop_commands("a" * 16) == ("::stop-commands::" + "a" * 16, "::" + "a" * 16 + "::")
    for bad in ("", "short", "has space xxxxxxxxxxxxx", "x::yyyyyyyyyyyyyyyyy"):
        try:
            stop_commands(bad)
        except ValueError:
            continue
        raise AssertionError(bad)


def test_group_title_is_one_line():
    line = github.group("a\r\n::error::b")
    assert runner_lines(line) == [line] and line.startswith("::group::")
    assert github.endgroup() == "::endgroup::"


def read_outputs(path: str) -> dict[str, str]:
    """The runner's file-command parser for $GITHUB_OUTPUT (name=value or name<<DELIM ... DELIM)."""
    lines = open(path, encoding="utf-8").read().split("\n")
    out, i = {}, 0
    while i < len(lines):
        line = lines[i]
        if not line:
            i += 1
            continue
        eq, heredoc = line.find("="), line.find("<<")
        if eq >= 0 and (heredoc < 0 or eq < heredoc):
            out[line[:eq]] = line[eq + 1 :]
            i += 1
            continue
        name, delimiter = line[:heredoc], line[heredoc + 2 :]
        value, i = [], i + 1
        while lines[i] != delimiter:
            value.append(lines[i])
            i += 1
        out[name] = "\n".join(value)
        i += 1
    return out


def test_write_outputs_uses_heredocs_with_fresh_delimiters(tmp_path):
    path = str(tmp_path / "sub" / "output")
    evil = "a\nEOF\nname=x\nghadelimiter_1\n<<\n%0A"
    github.write_outputs(path, {"status": "fail", "summary": evil})
    github.write_outputs(path, {"exit-code": "1"})
    assert read_outputs(path) == {"status": "fail", "summary": evil, "exit-code": "1"}
    delimiters = re.findall(r"^(?:status|summary|exit-code)<<(.*)$", open(path).read(), re.M)
    assert len(set(delimiters)) == 3
    for bad in ("a=b", "a<<b", "a\nb", ""):
        try:
            github.write_outputs(path, {bad: "x"})
        except ValueError:
            continue
        raise AssertionError(bad)


# --- property: user text never becomes a workflow command
# ------------------------------------------------

_FRAGMENTS = [
    "::",
    "::error::",
    "::stop-commands::x",
    "##[error]",
    "\r",
    "\n",
    "\r\n",
    "%",
    "%0A",
    "%25",
    ",",
    ":",
    "=",
    "\u2028",
    "\x85",
    "\x0b",
    "\x1b[31m",
    " ",
    "\u3000",
    "\ud800",
    "é",
    "漢",
]
hostile_text = st.lists(
    st.one_of(st.sampled_from(_FRAGMENTS), st.text(max_size=5)), max_size=12
).map("".join)


@settings(max_examples=300, deadline=None)
@given(hostile_text)
def test_no_user_text_becomes_a_command(s):
    report = hostile_report(s)
    lines, _ = annotations(report)
    for emitted in lines:
        # every emitted command is one physical line and parses back as that command
        assert runner_lines(emitted) == [emitted]
        assert emitted.splitlines() == [emitted]
        name, props, data = parse_v2(emitted)
        assert name in ("error", "warning", "notice") and set(props) <= {"file", "line", "title"}
    output = "\n".join(lines)
    assert [x for x in runner_lines(output) if x.lstrip().startswith("::")] == lines
    # The terminal text goes to the same log outside stop-commands: no line of it may parse as a
    # command.
    terminal = "\n".join(
        [text.render_summary(report), text.render_config_errors(report)]
        + [text.render_model(m) for m in report.models]
    )
    for line in runner_lines(terminal) + terminal.splitlines():
        assert not parsed_as_command(line, REGISTERED | {s}), line
    group = github.group(s)
    assert runner_lines(group) == [group] and group.splitlines() == [group]


def test_config_error_without_file_lands_on_config_file():
    report = RunReport(config_file="gradcheck.yml", config_errors=[ErrorInfo("bad", line=None)])
    (line,), _ = annotations(report)
    assert parse_v2(line)[1] == {"file": "gradcheck.yml", "title": "gradcheck-ci: error error"}


def test_unexpected_pass_under_fail_on_expected_is_an_error():
    m = model("fixed", "fail", expect="fail", params=[param("L.W")])
    m.extra.unexpected_pass = True
    (line,), _ = annotations(RunReport(config_file="gradcheck.yml", models=[m]))
    name, props, data = parse_v2(line)
    assert (
        name == "error"
        and props["title"] == "gradcheck-ci: fixed now passes"
        and props["line"] == "5"
    )
