"""The light part of the package imports without the numerical stack: `validate`, `merge` and the
reporters must run where Theano, Lasagne and numpy are not installed. Each check imports in a fresh
interpreter, since the test process has long imported numpy (the layer table itself is checked in
tests/unit/test_layers.py)."""

from __future__ import annotations

import subprocess
import sys

from tests import REPO
from tests.unit.test_layers import layer_table, modules, unit_of


def test_config_module_does_not_import_the_numeric_stack():
    code = (
        "import sys, gradcheck_ci.config; "
        "bad = [m for m in ('theano', 'lasagne', 'numpy') if m in sys.modules]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_no_config_module_imports_the_numeric_stack():
    code = (
        "import importlib, pkgutil, sys, gradcheck_ci.config as c; "
        "[importlib.import_module(m.name) for m in pkgutil.iter_modules(c.__path__, c.__name__ "
        "+ '.')]; bad = [m for m in ('theano', 'lasagne', 'numpy') if m in sys.modules]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_the_lower_layers_import_no_numerical_stack():
    """validate, merge and the reporters must run where Theano, Lasagne and numpy are not
    installed."""
    table = layer_table()
    light = sorted(
        m for m in modules() if m.startswith("gradcheck_ci.") and table.get(unit_of(m), 99) <= 3
    )
    assert "gradcheck_ci.config.reader" in light and "gradcheck_ci.report.sarif" in light
    script = (
        "import importlib, sys\n"
        f"for name in {light!r}:\n"
        "    importlib.import_module(name)\n"
        "    heavy = sorted(m for m in ('theano', 'lasagne', 'numpy') if m in sys.modules)\n"
        "    assert not heavy, f'{name} imports {heavy}'\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
