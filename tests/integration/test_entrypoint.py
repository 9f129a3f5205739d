"""The Actions adapter starting the real CLI process (its in-process flow is
tests/unit/test_entrypoint.py)."""

from __future__ import annotations

from entrypoint import main as entry


def test_run_cli_returns_the_childs_code(tmp_path, monkeypatch):
    monkeypatch.setattr(entry, "BOOT", "import sys; sys.exit(int(sys.argv[1]))")
    assert entry.run_cli(["3"], cwd=str(tmp_path)) == 3
