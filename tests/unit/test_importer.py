"""The one importer for factories and custom losses (gradcheck_ci/usercode/importer.py), without
Theano: both kinds of reference are imported the same way and keep their own wording."""

from __future__ import annotations

import os
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gradcheck_ci.core.errors import ModelLoadError
from gradcheck_ci.usercode import importer
from gradcheck_ci.usercode.importer import FACTORY, LOSS, import_function


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An empty repository; sys.path and the user modules the test imports are restored
    afterwards."""
    monkeypatch.setattr(sys, "path", list(sys.path))
    before = set(sys.modules)
    yield tmp_path
    for name in set(sys.modules) - before:
        del sys.modules[name]


def write(root: Path, name: str, text: str) -> None:
    (root / name).parent.mkdir(parents=True, exist_ok=True)
    (root / name).write_text(textwrap.dedent(text))


def load_error(*args: Any) -> ModelLoadError:
    with pytest.raises(ModelLoadError) as caught:
        import_function(*args)
    return caught.value


@pytest.mark.parametrize("wording", [FACTORY, LOSS], ids=["factory", "loss"])
def test_a_file_imports_its_sibling_files_and_is_registered(repo, wording):
    write(repo, "models/helpers.py", "SCALE = 3\n")
    write(
        repo, "models/xent_fn.py", "from helpers import SCALE\n\ndef fn(a, b):\n    return SCALE\n"
    )
    fn = import_function(wording, "models/xent_fn.py:fn", str(repo), "gradcheck.yml", 5)
    assert fn(1, 2) == 3
    assert (
        sys.modules[wording.module_prefix + "xent_fn"].fn is fn
    )  # pickle and dataclasses look modules up there


@pytest.mark.parametrize("wording", [FACTORY, LOSS], ids=["factory", "loss"])
def test_a_dotted_module_is_imported_from_the_repository_root(repo, wording):
    write(repo, "pkg_for_importer/__init__.py", "")
    write(repo, "pkg_for_importer/nets.py", "def build():\n    return 'built'\n")
    fn = import_function(wording, "pkg_for_importer.nets:build", str(repo), "gradcheck.yml", 5)
    assert fn() == "built"


def test_the_function_is_what_follows_the_last_colon(repo):
    write(
        repo, "models/v1:final.py", "def my_loss(a, b):\n    return 'loss'\n"
    )  # ':' is allowed in file names
    fn = import_function(LOSS, "models/v1:final.py:my_loss", str(repo), "gradcheck.yml", 5)
    assert fn(1, 2) == "loss"


@pytest.mark.parametrize(
    "wording, message",
    [
        (
            FACTORY,
            "models/net.py has no function 'biuld' (factory 'models/net.py:biuld') (did you mean "
            "'build'?)",
        ),
        (
            LOSS,
            "loss 'models/net.py:biuld': no function 'biuld' in models/net.py (did you mean "
            "'build'?)",
        ),
    ],
    ids=["factory", "loss"],
)
def test_a_missing_function_is_a_config_error_with_a_suggestion(repo, wording, message):
    write(repo, "models/net.py", "def build():\n    pass\n")
    error = load_error(wording, "models/net.py:biuld", str(repo), "gradcheck.yml", 5)
    assert (error.message, error.file, error.line, error.kind) == (
        message,
        "gradcheck.yml",
        5,
        "config",
    )


def test_a_missing_function_of_an_installed_module_names_the_module_not_a_path(repo):
    error = load_error(FACTORY, "json:nope", str(repo), "gradcheck.yml", 5)
    assert error.message.startswith("json has no function 'nope' (factory 'json:nope')")
    assert "/" not in error.message


@pytest.mark.parametrize(
    "wording, message",
    [
        (FACTORY, "'models/net.py:build' is not callable"),
        (LOSS, "loss 'models/net.py:build': no function 'build' in models/net.py"),
    ],
    ids=["factory", "loss"],
)
def test_a_name_that_is_not_a_function(repo, wording, message):
    write(repo, "models/net.py", "build = 3\n")
    error = load_error(wording, "models/net.py:build", str(repo), "gradcheck.yml", 5)
    assert (error.message, error.kind) == (message, "config")


@pytest.mark.parametrize("wording", [FACTORY, LOSS], ids=["factory", "loss"])
def test_a_missing_dotted_module_is_a_config_error(repo, wording):
    error = load_error(wording, "no_such_package_here.nets:build", str(repo), "gradcheck.yml", 5)
    assert error.message.startswith(
        f"{wording.what} 'no_such_package_here.nets:build': no module named "
        "'no_such_package_here.nets' (a dotted module is imported from"
    )
    assert (error.file, error.line, error.kind) == ("gradcheck.yml", 5, "config")


@pytest.mark.parametrize("wording", [FACTORY, LOSS], ids=["factory", "loss"])
def test_a_symlink_out_of_the_repository_is_a_config_error(repo, tmp_path_factory, wording):
    outside = tmp_path_factory.mktemp("outside")
    write(outside, "evil.py", "raise RuntimeError('must never run')\n")
    os.symlink(outside, repo / "linked")
    error = load_error(wording, "linked/evil.py:build", str(repo), "gradcheck.yml", 5)
    assert error.message.startswith(
        f"{wording.what} 'linked/evil.py:build' leads outside the repository"
    )
    assert error.kind == "config"


@pytest.mark.parametrize(
    "wording, doing",
    [
        (FACTORY, "importing the factory module of 'models/net.py:build'"),
        (LOSS, "importing loss 'models/net.py:build'"),
    ],
    ids=["factory", "loss"],
)
def test_what_the_module_does_at_import_is_the_users_code(repo, wording, doing):
    write(repo, "models/net.py", "import sys\n\nsys.exit('no GPU')\n")
    error = load_error(wording, "models/net.py:build", str(repo), "gradcheck.yml", 5)
    assert (error.file, error.line) == ("models/net.py", 3)
    assert (
        error.message
        == f"the code called exit('no GPU') {doing}; a factory must return the output layer "
        "(raise an exception to report a problem)"
    )


def test_a_keyboard_interrupt_is_never_the_users_error(repo):
    write(repo, "models/net.py", "raise KeyboardInterrupt\n")
    with pytest.raises(KeyboardInterrupt):
        import_function(LOSS, "models/net.py:build", str(repo), "gradcheck.yml", 5)


def test_a_dotted_factory_that_does_not_exist_is_a_config_error():
    assert (
        importer.missing_target_module(ModuleNotFoundError("x", name="pkg"), "pkg.nets")
        == "pkg.nets"
    )
    assert (
        importer.missing_target_module(ModuleNotFoundError("x", name="pkg.nets"), "pkg.nets")
        == "pkg.nets"
    )
    # a module the user's module imports is the user's error, not the config's
    assert (
        importer.missing_target_module(ModuleNotFoundError("x", name="tensorflow"), "pkg.nets")
        is None
    )


# ---------------------------------------------------------------- Python 2 packages


PY2_PACKAGE = {
    "py2nets/__init__.py": 'from model_a import build_a\nprint "py2nets loaded"\n',
    "py2nets/model_a.py": "from sub.shapes import HIDDEN\n\ndef build_a():\n    return HIDDEN\n",
    "py2nets/sub/__init__.py": "",
    "py2nets/sub/shapes.py": "HIDDEN = 4\n",
}


@pytest.mark.parametrize("ref", ["py2nets:build_a", "py2nets.model_a:build_a"])
def test_a_python_2_package_imports_its_siblings_as_python_2_did(repo, ref):
    for name, text in PY2_PACKAGE.items():
        write(repo, name, text)
    fn = import_function(FACTORY, ref, str(repo), "gradcheck.yml", 5)
    assert fn() == 4
    # the package's own module, once: not a second, top-level copy of the file
    assert sys.modules["py2nets.model_a"].build_a is fn
    assert sys.modules["py2nets.sub.shapes"].HIDDEN == 4
    assert "model_a" not in sys.modules and "sub" not in sys.modules


RELATIVE_PACKAGE = {
    # Python 3 cannot tell this __init__ from its own: it imports its sibling as Python 2 did
    "relnets/__init__.py": "from model_b import *\nimport common3, model_b as b\n",
    "relnets/common3.py": "HID3 = 5\n",
    "relnets/model_b.py": "from .common3 import HID3\n\ndef build_b():\n    return HID3\n",
}


@pytest.mark.parametrize(
    "ref", ["relnets/model_b.py:build_b", "relnets.model_b:build_b", "relnets:build_b"]
)
def test_a_package_init_that_imports_its_siblings_implicitly_runs_first(repo, ref):
    for name, text in RELATIVE_PACKAGE.items():
        write(repo, name, text)
    fn = import_function(FACTORY, ref, str(repo), "gradcheck.yml", 5)
    assert fn() == 5
    package = sys.modules["relnets"]
    assert package.b is sys.modules["relnets.model_b"] and package.common3.HID3 == 5
    assert "model_b" not in sys.modules


def test_a_python_3_import_that_works_keeps_its_meaning(repo):
    # a sibling named like a module Python 3 finds: Python 3's meaning for a Python 3 file, Python
    # 2's (the sibling first) for a Python 2 one, unless it imports absolutely
    build = "\ndef build():\n    return colorsys\n"
    write(repo, "keep3/__init__.py", "import colorsys\n" + build)
    write(repo, "keep2/__init__.py", "import colorsys\nprint 'keep2'\n" + build)
    write(repo, "keep2a/__init__.py", "from __future__ import absolute_import\nimport colorsys\n")
    write(repo, "keep2a/net.py", "from keep2a import colorsys\nprint 'keep2a'\n" + build)
    for package in ("keep3", "keep2", "keep2a"):
        write(repo, f"{package}/colorsys.py", "MINE = True\n")
    assert not hasattr(
        import_function(FACTORY, "keep3:build", str(repo), "gradcheck.yml", 5)(), "MINE"
    )
    assert import_function(FACTORY, "keep2:build", str(repo), "gradcheck.yml", 5)().MINE
    fn = import_function(FACTORY, "keep2a.net:build", str(repo), "gradcheck.yml", 5)
    assert not hasattr(fn(), "MINE")


def test_a_python_2_file_with_a_dot_in_its_name_imports_its_siblings(repo):
    write(repo, "models/helpers.py", "SCALE = 3\n")
    write(
        repo,
        "models/v1.final.py",
        "import helpers\nprint 'x'\ndef fn():\n    return helpers.SCALE\n",
    )
    assert import_function(FACTORY, "models/v1.final.py:fn", str(repo), "gradcheck.yml", 5)() == 3


def test_a_repository_module_out_of_reach_is_not_a_package_to_install(repo):
    write(repo, "lib/helpers.py", "SCALE = 3\n")
    write(repo, "models/net.py", "import os\nimport helpers\n\ndef build():\n    pass\n")
    error = load_error(FACTORY, "models/net.py:build", str(repo), "gradcheck.yml", 5)
    assert (error.file, error.line) == ("models/net.py", 2)
    assert "install" not in error.message
    assert error.message == (
        "ModuleNotFoundError: No module named 'helpers' (importing the factory module of "
        "'models/net.py:build'): 'helpers' is the repository's lib/helpers.py, which is not on "
        "the import path there (the repository root, the factory file's folder and, in a "
        "package, its package): import it by its place in the repository (`lib.helpers`)"
    )


def test_a_package_module_imported_outside_its_package_is_blamed_on_that_import(repo):
    # with absolute imports, Python 2 also imports `model_b` as a module of its own: the error is
    # that import, not the relative import in model_b
    write(
        repo,
        "absnets/__init__.py",
        "from __future__ import absolute_import\nfrom model_b import *\n",
    )
    write(repo, "absnets/common3.py", "HID3 = 5\n")
    write(repo, "absnets/model_b.py", "import os\nfrom .common3 import HID3\n")
    error = load_error(FACTORY, "absnets/model_b.py:build_b", str(repo), "gradcheck.yml", 5)
    assert (error.file, error.line) == ("absnets/__init__.py", 2)
    assert error.message == (
        "absnets/__init__.py:2 imports absnets/model_b.py as a module of its own, outside its "
        "package, and it imports relatively (line 2: attempted relative import with no known "
        "parent package) (importing the factory module of 'absnets/model_b.py:build_b'): "
        "import it by its place in its package (`from .model_b import ...`, or `absnets.model_b`)"
    )


def test_a_sibling_not_found_with_absolute_imports_is_named_as_the_repositorys(repo):
    # imported by its dotted name, the package's folder is not on sys.path: `model_b` is not found
    write(repo, "absdot/__init__.py", "from __future__ import absolute_import\nimport model_b\n")
    write(repo, "absdot/model_b.py", "def build_b():\n    pass\n")
    error = load_error(FACTORY, "absdot.model_b:build_b", str(repo), "gradcheck.yml", 5)
    assert (error.file, error.line) == ("absdot/__init__.py", 2)
    assert "'model_b' is the repository's absdot/model_b.py" in error.message
    assert "(`absdot.model_b`)" in error.message and "install" not in error.message
