"""Reporters: pure functions from a RunReport (gradcheck_ci.results) to text, one module per format.

They never import Theano. `formats` is the table of report files (JSON, JUnit, SARIF) the check writes;
`text`, `github` and `summary` are what it prints; `common` holds what the formats share.
"""
from __future__ import annotations

from .common import clean_text, one_line, repo_path
from .formats import REPORT_FORMATS, ReportFormat, write_reports

__all__ = ["REPORT_FORMATS", "ReportFormat", "clean_text", "one_line", "repo_path", "write_reports"]
