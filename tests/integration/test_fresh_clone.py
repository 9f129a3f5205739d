"""The project's tests pass from the project alone: the unit slice, run in a copy of the
repository's files in a folder with nothing beside it (no workspace folders such as ../shared, no
environment variable pointing at files outside). A fresh clone on GitHub is exactly that, and a test
that reads a file from outside the clone fails here before it fails there."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests import REPO


def repository_files() -> list[str]:
    """What a commit of this working tree holds: tracked files and new ones not ignored (deleted
    ones left out)."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return [name for name in listed.split("\0") if name and (REPO / name).is_file()]


def copy_of_repository(destination: Path) -> Path:
    for name in repository_files():
        target = destination / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, target, follow_symlinks=False)
    return destination


def test_unit_slice_passes_in_a_clone_with_nothing_beside_it(tmp_path: Path):
    clone = copy_of_repository(tmp_path / "alone" / "gradcheck-ci")
    assert sorted(p.name for p in clone.parent.iterdir()) == ["gradcheck-ci"]
    assert not any((folder / "shared").exists() for folder in clone.parents)
    env = {key: value for key, value in os.environ.items() if not key.startswith("GRADCHECK")}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    # `python -m` puts the clone first on sys.path, ahead of the editable install of the original
    # checkout.
    where = subprocess.run(
        [sys.executable, "-c", "import gradcheck_ci, tests; print(gradcheck_ci.__file__)"],
        cwd=clone,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    assert Path(where).is_relative_to(clone), where
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/unit"],
        cwd=clone,
        env=env,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert (
        " passed" in proc.stdout
        and "test_report_sarif.py" not in proc.stdout.partition("short test summary")[2]
    )
