"""write_reports and the helpers shared by the formats."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

from gradcheck_ci.report import write_reports
from gradcheck_ci.report.common import clean_text, one_line, repo_path
from tests.samples import sample_report


def test_write_reports_writes_what_was_asked(tmp_path):
    paths = {k: str(tmp_path / "out" / f"r.{k}") for k in ("json", "xml", "sarif")}
    written = write_reports(
        sample_report(),
        json_path=paths["json"],
        junit_path=paths["xml"],
        sarif_path=paths["sarif"],
        tool_version="9.9.9",
    )
    assert written == [paths["json"], paths["xml"], paths["sarif"]]
    assert json.load(open(paths["json"]))["status"] == "error"
    assert ET.parse(paths["xml"]).getroot().tag == "testsuites"
    assert json.load(open(paths["sarif"]))["runs"][0]["tool"]["driver"]["version"] == "9.9.9"


def test_write_reports_skips_missing_paths(tmp_path):
    assert write_reports(sample_report()) == []
    assert write_reports(sample_report(), junit_path=str(tmp_path / "j.xml")) == [
        str(tmp_path / "j.xml")
    ]


def test_repo_path(monkeypatch, tmp_path):
    assert repo_path("./models/rnn.py") == "models/rnn.py"
    assert repo_path(".\\models\\rnn.py") == "models/rnn.py"
    assert repo_path("a/./b/../c.py") == "a/c.py"
    assert repo_path("") is None and repo_path(None) is None and repo_path(".") is None
    monkeypatch.setenv("GITHUB_WORKSPACE", str(tmp_path))
    assert repo_path(str(tmp_path / "models" / "rnn.py")) == "models/rnn.py"
    assert repo_path("/elsewhere/x.py") == "/elsewhere/x.py"  # outside the repository: left as is


def test_clean_text():
    assert clean_text("a\x00b\x1b[31mc\x1b[0m\u2028d\r\ne\x85f") == "abc\nd\r\ne\nf"
    assert clean_text("\ud800x") == "x"
    assert one_line("  a\n\tb  c ") == "a b c"
    assert one_line("abcdef", 4) == "abc…"
