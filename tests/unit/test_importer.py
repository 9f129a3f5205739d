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
