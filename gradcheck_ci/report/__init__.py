"""Reporters: pure functions from a RunReport (gradcheck_ci.core.results) to text, one module per
format.

They never import Theano. `formats` is the table of the report files `check` writes (JSON, JUnit,
SARIF); `text` and `github` render what it prints, `summary` the GitHub job summary; `common` holds
the helpers they all share; `jsonreport` also reads reports back and merges shards.
"""

from __future__ import annotations

from .formats import REPORT_FORMATS, ReportFormat, write_reports

__all__ = ["REPORT_FORMATS", "ReportFormat", "write_reports"]
