"""Python 2 files imported through their translation, and scripts run up to their network
(usercode/python2.py, usercode/loader.py): what is translated, what `/` means afterwards, where
untranslatable code is, and that nothing is written into the repository."""

from __future__ import annotations

import importlib.util
import sys
import textwrap

import pytest

from gradcheck_ci.usercode import loader, python2
from gradcheck_ci.usercode.loader import RepositoryLoader, assigned_under_main_guard
from gradcheck_ci.usercode.python2 import Untranslatable, needs_translation, translate


@pytest.fixture(autouse=True)
def fresh_records():
    """Each test sees only the translations, divisions and cuts it made."""
    saved = dict(python2.translations), dict(python2.floored), dict(loader.cuts)
    for record in (python2.translations, python2.floored, loader.cuts):
        record.clear()
    yield
    for record, old in zip(
        (python2.translations, python2.floored, loader.cuts), saved, strict=True
    ):
        record.clear()
        record.update(old)


def load(path, name: str, until: str | None = None):
    spec = importlib.util.spec_from_file_location(
        name, str(path), loader=RepositoryLoader(name, str(path), until)
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[name]
    return module


def write(folder, name: str, text: str):
    path = folder / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_python3_files_are_left_as_they_are():
    assert not needs_translation(
        "def f(n):\n    return n / 2  # xrange in a comment is no Python 2\n", "f.py"
    )
    assert not needs_translation(
        "long = 3\nx = long(2) if False else 0\n", "f.py"
    )  # its own `long`
    assert needs_translation("for i in xrange(3):\n    pass\n", "f.py")
    assert needs_translation("print 'x'\n", "f.py")
    assert needs_translation("def f(x):\n    return long(x)\n", "f.py")
    # Python 3 names that share a Python 2 module's name, and 2-and-3 code that defines its own
    # xrange
    assert not needs_translation(
        "from io import StringIO\nfrom queue import Queue\nq = Queue()\n", "f.py"
    )
    assert not needs_translation(
        "try:\n    xrange\nexcept NameError:\n    xrange = range\n", "f.py"
    )
    assert needs_translation("import os, cPickle\n", "f.py")
    assert needs_translation("from itertools import izip\n", "f.py")


def test_the_fixers_applied_are_named_and_tabs_read_as_python_2_did():
    source = (
        "def f(d):\n\ttry:\n\t\tx = 1\n        except KeyError, e:\n\t\tprint e\n\treturn "
        "d.has_key('a')\n"
    )
    translation = translate(source, "f.py")
    assert translation.fixers == ["except", "print", "has_key"] and translation.tabs
    assert translation.first_line == 2  # the `try` statement the except fixer rewrote


def test_integer_division_keeps_python_2s_meaning_and_says_where(tmp_path):
    path = write(
        tmp_path,
        "sizes.py",
        """\
        def sizes(n_hidden, scale):
            half = n_hidden / 2
            n_hidden /= 3
            print "sizes", half
            return half, n_hidden, scale / 2
        """,
    )
    module = load(path, "gradcheck_test_sizes")
    assert module.sizes(7, 3.0) == (3, 2, 1.5)  # ints floor, a float divides
    [translated, first, second] = python2.notices(str(tmp_path))
    assert (translated.code, translated.file, translated.line) == (
        "python2-translated",
        "sizes.py",
        4,
    )
    assert translated.message == (
        "sizes.py is Python 2: it was imported through a translation to Python 3 (2to3 "
        "fixers: print); the file itself is unchanged"
    )
    assert (first.code, first.line, second.line) == ("python2-division", 2, 3)
    assert first.message == (
        "sizes.py:2 divides the integers 7 / 2: the translation keeps Python 2's meaning, 3 "
        "(Python 3's `/` would give 3.5); write `//` there to say so in Python 3"
    )


def test_a_future_division_import_keeps_python_3s_division(tmp_path):
    path = write(
        tmp_path,
        "future.py",
        "from __future__ import division\nprint 'x'\ndef half(n):\n    return n / 2\n",
    )
    assert load(path, "gradcheck_test_future").half(7) == 3.5
    assert not python2.floored


def test_what_2to3_cannot_translate_is_named_with_its_line():
    with pytest.raises(Untranslatable) as caught:
        translate("def load(path, async=False):\n    print path\n", "data.py")
    assert caught.value.line == 1
    assert (
        caught.value.why
        == "its translation does not compile: `async` is a keyword in Python 3: rename it"
    )


def test_a_python_3_syntax_error_stays_python_3s(tmp_path):
    path = write(tmp_path, "typo.py", "def f(:\n    return 1\n")
    with pytest.raises(SyntaxError):
        load(path, "gradcheck_test_typo")


def test_nothing_is_written_into_the_repository(tmp_path):
    path = write(tmp_path, "old.py", "import cPickle\nX = [i for i in xrange(3)]\n")
    before = sorted(p.name for p in tmp_path.rglob("*"))
    assert load(path, "gradcheck_test_old").X == [0, 1, 2]
    assert sorted(p.name for p in tmp_path.rglob("*")) == before  # no translation, no __pycache__


def test_a_script_runs_up_to_its_network_and_not_the_training_after_it(tmp_path):
    path = write(
        tmp_path,
        "train.py",
        """\
        N = 3
        l_in = ("input", N)
        l_out = ("dense", l_in)
        for epoch in range(10 ** 9):
            raise SystemExit("training")
        saved = True
        """,
    )
    module = load(path, "gradcheck_test_train", until="l_out")
    assert module.l_out == ("dense", ("input", 3)) and not hasattr(module, "saved")
    [notice] = loader.notices(str(tmp_path))
    assert (notice.code, notice.file, notice.line) == ("script-cut", "train.py", 3)
    assert notice.message.startswith(
        "train.py is a script: it ran up to line 3, where it assigns l_out, and not "
        "lines 4-6 after it"
    )


def test_a_name_a_function_defines_is_not_cut(tmp_path):
    path = write(tmp_path, "net.py", "def build():\n    return 1\nafter = True\n")
    assert load(path, "gradcheck_test_net", until="build").after is True
    assert not loader.cuts


def test_a_network_built_only_under_the_main_guard_is_found_with_its_line(tmp_path):
    path = write(tmp_path, "main.py", "import os\n\nif __name__ == '__main__':\n    l_out = 1\n")
    assert assigned_under_main_guard(str(path), "l_out") == 3
    assert assigned_under_main_guard(str(path), "os") is None


def test_a_line_2to3_is_unsure_of_gets_a_notice_at_its_line(tmp_path):
    path = write(tmp_path, "zipped.py", "print 'x'\npairs = map(None, [1, 2], [3])\n")
    assert load(path, "gradcheck_test_zipped").pairs is not None
    [_, doubt] = python2.notices(str(tmp_path))
    assert (doubt.code, doubt.file, doubt.line) == ("python2-doubt", "zipped.py", 2)
    assert doubt.message == (
        "zipped.py:2: 2to3 flags this line, which may not mean in Python 3 what it meant in "
        "Python 2: cannot convert map(None, ...) with multiple arguments because map() now "
        "truncates to the shortest sequence"
    )
