"""C or Python for a model's worker (platform/ccode.py), and the background compile's markers
(process/background.py): the choice from the environment and the records, without Theano."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from gradcheck_ci.core.errors import UsageError
from gradcheck_ci.core.extra import CompileSummary, ModelExtra
from gradcheck_ci.platform import cachedir, ccode, fncache
from gradcheck_ci.platform.flags import parse_flags
from gradcheck_ci.process import background

MODEL = ccode.identity({"name": "rnn", "factory": "rnn.py:build"}, "0.1")


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """An environment with a cache directory of its own (the compiler's version known: no g++
    run)."""
    monkeypatch.setitem(cachedir._COMPILERS, "g++", "g++ (Debian 12.2.0-14) 12.2.0")
    return {cachedir.CACHE_DIR_ENV: str(tmp_path / "cache"), "HOME": str(tmp_path)}


def repository(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir(exist_ok=True)
    (root / "rnn.py").write_text("def build(): pass\n")
    return root


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def compiled(env: dict[str, str], root: Path, keys: list[str]) -> str:
    """The function cache after a C check of MODEL: its entries and its record."""
    directory = fncache.cache_dir(env)
    assert directory is not None
    os.makedirs(directory, exist_ok=True)
    for key in keys:
        Path(fncache.entry_path(directory, key)).write_bytes(b"entry")
    assert ccode.write_record(directory, MODEL, keys, {"rnn.py": sha256(root / "rnn.py")})
    return directory


def test_a_model_never_compiled_gets_python(cache: dict[str, str], tmp_path: Path) -> None:
    choice = ccode.choose(MODEL, str(repository(tmp_path)), cache)
    assert (choice.c, choice.chosen) == (False, True)
    assert "no C code was compiled for this model yet" in choice.why


def test_a_model_whose_c_functions_are_cached_gets_c(cache: dict[str, str], tmp_path: Path) -> None:
    root = repository(tmp_path)
    compiled(cache, root, ["k1", "k2"])
    assert ccode.choose(MODEL, str(root), cache).c
    # another model (another entry, another stack) has no record
    other = ccode.identity({"name": "rnn", "factory": "rnn.py:build"}, "master")
    assert not ccode.choose(other, str(root), cache).c


def test_a_model_checked_with_c_before_keeps_c_when_it_changes(
    cache: dict[str, str], tmp_path: Path
) -> None:
    root = repository(tmp_path)
    directory = compiled(cache, root, ["k1", "k2"])
    (root / "rnn.py").write_text("def build(): return 1\n")
    changed = ccode.choose(MODEL, str(root), cache)
    assert changed.c and changed.why == "its C code was compiled before (it changed since)"
    (root / "rnn.py").write_text("def build(): pass\n")
    assert ccode.record_state(directory, MODEL, str(root)) == "current"
    os.unlink(fncache.entry_path(directory, "k2"))  # pruned, or another key replaced it
    assert ccode.record_state(directory, MODEL, str(root)) == "stale"
    assert ccode.choose(MODEL, str(root), cache).c


def test_a_failed_background_compile_keeps_python_until_the_files_change(
    cache: dict[str, str], tmp_path: Path
) -> None:
    # it was tried again, silently, after every run
    root = repository(tmp_path)
    directory = fncache.cache_dir(cache)
    assert directory is not None
    os.makedirs(directory, exist_ok=True)
    digest = {"rnn.py": sha256(root / "rnn.py")}
    assert ccode.write_failure(directory, MODEL, "undefined symbol: dgemm_", digest)
    choice = ccode.choose(MODEL, str(root), cache)
    assert not choice.c and choice.why == (
        "its C compile after an earlier run failed (undefined symbol: dgemm_)"
    )
    (root / "rnn.py").write_text("def build(): return 1\n")  # fixed, perhaps: try again
    choice = ccode.choose(MODEL, str(root), cache)
    assert not choice.c and choice.why == "no C code was compiled for this model yet"


def test_a_damaged_record_is_not_trusted(cache: dict[str, str], tmp_path: Path) -> None:
    root = repository(tmp_path)
    directory = compiled(cache, root, ["k1"])
    Path(ccode.record_path(directory, MODEL)).write_text("{not json")
    assert not ccode.choose(MODEL, str(root), cache).c


@pytest.mark.parametrize(
    ("extra", "c", "chosen"),
    [
        ({ccode.MODE_ENV: "c"}, True, True),
        ({ccode.MODE_ENV: "Python"}, False, True),
        ({"THEANO_FLAGS": "floatX=float32,cxx="}, False, False),
        ({"THEANO_FLAGS": "cxx=g++", ccode.MODE_ENV: "python"}, True, False),
        ({fncache.DISABLE_ENV: "1"}, True, True),
    ],
)
def test_forced_choices(
    cache: dict[str, str], tmp_path: Path, extra: dict[str, str], c: bool, chosen: bool
) -> None:
    choice = ccode.choose(MODEL, str(repository(tmp_path)), {**cache, **extra})
    assert (choice.c, choice.chosen) == (c, chosen)


def test_the_image_keeps_c(cache: dict[str, str], tmp_path: Path) -> None:
    baked = tmp_path / "baked"
    baked.mkdir()
    env = {**cache, cachedir.CACHE_ENV: str(baked)}
    assert ccode.choose(MODEL, str(repository(tmp_path)), env).c


def test_bad_settings_are_usage_errors() -> None:
    with pytest.raises(UsageError, match="GRADCHECK_CI_COMPILE='gcc': expected one of"):
        ccode.mode({ccode.MODE_ENV: "gcc"})
    with pytest.raises(UsageError, match="GRADCHECK_CI_C_PAYS_AFTER='soon'"):
        ccode.pays_after({ccode.PAYS_ENV: "soon"})
    with pytest.raises(UsageError, match="GRADCHECK_CI_C_PAYS_AFTER='-1'"):
        ccode.pays_after({ccode.PAYS_ENV: "-1"})
    assert ccode.mode({}) == "auto"
    assert ccode.pays_after({ccode.PAYS_ENV: "0"}) == 0.0


def test_python_flags_keep_the_users_and_add_cxx() -> None:
    flags = parse_flags(ccode.python_flags({"THEANO_FLAGS": "floatX=float32,optimizer=fast_run"}))
    assert flags == {"floatX": "float32", "optimizer": "fast_run", "cxx": ""}


def test_c_pays_after_enough_python_evaluation() -> None:
    seconds = {"compile": 30.0, "analytic": 0.5, "numeric": 17.0, "diagnosis": 23.0}
    extra = ModelExtra(diagnosis_compile=CompileSummary(2, 12.0, "miss", 0, 2, 2, 0, ""))
    assert ccode.python_seconds(seconds, extra) == pytest.approx(28.5)
    assert ccode.pays(28.5, {})
    # a small model: compiling is all it costs, evaluating next to nothing
    assert not ccode.pays(ccode.python_seconds({"compile": 5.0, "numeric": 0.1}, ModelExtra()), {})
    assert ccode.pays(0.1, {ccode.PAYS_ENV: "0"})


def test_the_notice_says_what_happens_to_c() -> None:
    notice = ccode.python_notice(
        "no C code was compiled for this model yet", 3.25, ccode.COMPILING_LATER, "g.yml", 4
    )
    assert notice.code == "python-evaluation"
    assert (notice.file, notice.line) == ("g.yml", 4)
    assert "evaluating took 3.2s" in notice.message
    assert notice.message.endswith(
        "C is being compiled in the background after this run, for the next"
    )
    tiny = ccode.python_notice("why", 0.01, ccode.NOT_PAYING, "g.yml", 4)
    assert "evaluating took under 0.1s" in tiny.message


def test_background_markers_name_the_running_compiles(cache: dict[str, str]) -> None:
    directory = fncache.cache_dir(cache)
    assert directory is not None
    folder = Path(background.marker_dir(directory))
    folder.mkdir(parents=True)
    (folder / f"{background.MARKER_PREFIX}{os.getpid()}").write_text(
        json.dumps({"models": [MODEL]})
    )
    dead = folder / f"{background.MARKER_PREFIX}{2**22 + 1}"  # above Linux's pid_max default
    dead.write_text(json.dumps({"models": ["other"]}))
    assert background.running(directory) == {os.getpid(): [MODEL]}
    assert not dead.exists()  # a compile that died leaves nothing that blocks the next


def test_a_forced_mode_says_who_forced_it(cache: dict[str, str], tmp_path: Path) -> None:
    root = str(repository(tmp_path))
    by_user = ccode.choose(MODEL, root, dict(cache, **{ccode.MODE_ENV: "python"}))
    assert (by_user.c, by_user.why) == (False, "GRADCHECK_CI_COMPILE=python")
    # replay sets it itself, to evaluate as the report's check did: not the user's setting
    why = "the report's check evaluated it without C, and a replay evaluates as it did"
    by_replay = ccode.choose(
        MODEL, root, dict(cache, **{ccode.MODE_ENV: "python", ccode.MODE_WHY_ENV: why})
    )
    assert (by_replay.c, by_replay.why) == (False, why)
