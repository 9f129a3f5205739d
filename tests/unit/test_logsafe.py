"""Under GitHub Actions no line the CLI prints can start a workflow command, however user text
arrives: in one write, split over many, or behind a bare CR; `validate` and `check` print through
the same guard."""

from __future__ import annotations

import io
import textwrap

from hypothesis import given, settings
from hypothesis import strategies as st

from gradcheck_ci.commands import cli
from gradcheck_ci.commands.console import Console
from gradcheck_ci.report import github
from gradcheck_ci.report.logsafe import ZWSP, CommandSafeStream, neutralise
from tests.actions_log import effective_commands, parsed_as_command, runner_lines

FRAGMENTS = [
    "::",
    ":",
    "::error::",
    "::add-mask::x",
    "::stop-commands::t",
    "##[",
    "#",
    "##[error]",
    "[",
    "\r",
    "\n",
    "\r\n",
    " ",
    "\t",
    "x",
    "%0A",
    "\u2028",
]


def commands_in(output: str) -> list[str]:
    return [line for line in runner_lines(output) if parsed_as_command(line)]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(st.sampled_from(FRAGMENTS), max_size=6).map("".join), max_size=12))
def test_no_write_sequence_starts_a_command(writes):
    out = io.StringIO()
    stream = CommandSafeStream(out)
    for text in writes:
        stream.write(text)
    assert commands_in(out.getvalue()) == []
    assert out.getvalue().replace(ZWSP, "") == "".join(writes)  # nothing else changes


def test_a_bare_cr_ends_a_line_for_the_runner():
    assert commands_in("x\r::error::y") and not commands_in(neutralise("x\r::error::y"))
    assert neutralise("  ::warning::w\r\n##[error]v") == f"  :{ZWSP}:warning::w\r\n##{ZWSP}[error]v"


def test_the_consoles_own_commands_pass_and_user_lines_between_do_not():
    out = io.StringIO()
    console = Console(CommandSafeStream(out), github=True, ticking=False)
    console.note("cache\r::error::fake ##[add-mask]x", warning=True)
    console.user_output("m", "x\r::error file=a.py::injected")
    names = [c.name for c in effective_commands(out.getvalue())]
    assert names == ["warning"]
    assert commands_in(out.getvalue()) == [
        github.command("warning", "cache\r::error::fake ##[add-mask]x", title="gradcheck-ci")
    ]


def test_validate_under_actions_neutralises_config_text(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    (tmp_path / "gradcheck.yml").write_text(
        textwrap.dedent("""\
        version: 1
        models:
          - name: "m\\r::warning::name"
            factory: "m.py:build\\r::error::F"
            "k\\n::error file=gradcheck.yml,line=1::X\\n##[add-mask]x": 1
        """)
    )
    assert cli.main(["validate", "--config", str(tmp_path / "gradcheck.yml")]) == 2
    captured = capsys.readouterr()
    assert "unknown key" in captured.err
    assert commands_in(captured.out) == [] and commands_in(captured.err) == []


def test_validate_outside_actions_is_unchanged(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    (tmp_path / "gradcheck.yml").write_text(
        'version: 1\nmodels:\n  - {name: m, factory: "m.py:b", "##[x": 1}\n'
    )
    assert cli.main(["validate", "--config", str(tmp_path / "gradcheck.yml")]) == 2
    assert "'##[x'" in capsys.readouterr().err
