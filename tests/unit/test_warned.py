"""Warnings during a check are shown at the user's line, once (usercode/warned.py)."""

from __future__ import annotations

import importlib.util
import io
import sys
import warnings
from pathlib import Path

from gradcheck_ci.usercode.warned import at_user_lines


def load(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_library_warning_is_shown_at_the_users_line_once(tmp_path, monkeypatch):
    library = tmp_path / "venv" / "site-packages" / "somelib.py"
    library.parent.mkdir(parents=True)
    library.write_text(
        "import warnings\n\ndef old():\n    warnings.warn('old() is deprecated', UserWarning)\n"
    )
    root = tmp_path / "repo"
    root.mkdir()
    (root / "net.py").write_text(
        "def build(lib):\n    for _ in range(3):\n        lib.old()  # the user's call\n"
    )
    lib = load(library, "somelib_for_test")
    net = load(root / "net.py", "net_for_test")
    err = io.StringIO()
    monkeypatch.setattr(sys, "stderr", err)
    with warnings.catch_warnings(), at_user_lines(str(root)):
        warnings.simplefilter("always")
        net.build(lib)
    # three calls, one warning: at the repository's line, not the library's
    assert err.getvalue() == (
        "net.py:3: UserWarning: old() is deprecated\n  lib.old()  # the user's call\n"
    )


def test_a_warning_with_no_user_frame_keeps_its_place_without_the_installation_path(
    tmp_path, monkeypatch
):
    library = tmp_path / "venv" / "lib" / "site-packages" / "otherlib" / "core.py"
    library.parent.mkdir(parents=True)
    library.write_text("import warnings\n\ndef old():\n    warnings.warn('no', FutureWarning)\n")
    lib = load(library, "otherlib_core_for_test")
    root = tmp_path / "repo"
    root.mkdir()
    err = io.StringIO()
    monkeypatch.setattr(sys, "stderr", err)
    with warnings.catch_warnings(), at_user_lines(str(root)):
        warnings.simplefilter("always")
        lib.old()
    assert err.getvalue().startswith("otherlib/core.py:4: FutureWarning: no\n"), err.getvalue()
    assert str(tmp_path) not in err.getvalue()
