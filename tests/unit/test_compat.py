"""Theano flags are merged, never clobbered; the import shims are in place; the cache directory and
the stack check (no Theano import here)."""

import json
import os
import shutil
import socket
import struct
import sys
import time
from pathlib import Path

import pytest

from gradcheck_ci.platform import cachedir, compat
from gradcheck_ci.platform.flags import parse_flags
from gradcheck_ci.platform.stack import stack_problem


def test_flags_keep_user_choices(tmp_path):
    env = {"THEANO_FLAGS": "optimizer=fast_compile,blas.ldflags=-lopenblas,base_compiledir=/x"}
    flags = parse_flags(compat.theano_flags("float32", env))
    assert flags["floatX"] == "float32"
    assert flags["optimizer"] == "fast_compile"
    assert flags["blas.ldflags"] == "-lopenblas"
    assert flags["base_compiledir"] == "/x"


def test_flags_defaults(tmp_path, monkeypatch):
    monkeypatch.setenv(cachedir.CACHE_ENV, str(tmp_path))
    monkeypatch.delenv(cachedir.CACHE_DIR_ENV, raising=False)
    flags = parse_flags(compat.theano_flags("float64", {}))
    assert flags["floatX"] == "float64"
    assert flags["blas.ldflags"] == ""
    assert flags["base_compiledir"] == str(tmp_path)


def test_read_only_cache_falls_back_to_a_writable_copy(tmp_path, monkeypatch):
    baked = tmp_path / "baked"
    (baked / "compiledir_x").mkdir(parents=True)
    (baked / "compiledir_x" / "entry").write_text("cached")
    monkeypatch.setattr(compat.os, "access", lambda path, mode: str(path) != str(baked))
    monkeypatch.setattr(compat.tempfile, "gettempdir", lambda: str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    copy = cachedir.writable_cache(str(baked))
    assert copy != str(baked)
    assert (tmp_path / "tmp").as_posix() in copy
    assert open(os.path.join(copy, "compiledir_x", "entry")).read() == "cached"


def test_import_shims_register_modules():
    compat.install_import_shims()
    assert sys.modules["theano.scan_module.scan_perform_ext"] is None
    assert hasattr(sys.modules["theano.tensor.signal.downsample"], "max_pool_2d")


# ---- the cache directory
# -----------------------------------------------------------------------------------


@pytest.fixture
def stack(monkeypatch):
    """A fixed stack: the compiler's version without running it (unit tests start no process)."""
    monkeypatch.setitem(cachedir._COMPILERS, "g++", "g++ (Debian 12.2.0-14) 12.2.0")
    monkeypatch.delenv("THEANO_FLAGS", raising=False)
    monkeypatch.delenv(cachedir.CACHE_ENV, raising=False)
    monkeypatch.delenv(cachedir.CACHE_DIR_ENV, raising=False)


def tiny_elf() -> bytes:
    """A complete little-endian ELF64 file: its header, one program header, no section headers."""
    header = (
        b"\x7fELF"
        + bytes([2, 1, 1])
        + bytes(9)
        + struct.pack("<HHIQQQIHHHHHH", 3, 62, 1, 0, 64, 0, 0, 64, 56, 1, 64, 0, 0)
    )
    return header + bytes(56)


def baked_cache(root: Path, modules=("tmpaaa", "tmpbbb")) -> Path:
    """A base_compiledir as the image bakes it: one compiledir of module folders, a lock left
    behind."""
    compiledir = root / "compiledir_gradcheck-ci"
    for name in modules:
        (compiledir / name).mkdir(parents=True)
        (compiledir / name / "key.pkl").write_bytes(b"key of " + name.encode())
        (compiledir / name / f"{name}.so").write_bytes(tiny_elf())
    (compiledir / "lazylinker_ext").mkdir()
    (compiledir / "__init__.py").write_text("")  # Theano makes the compiledir a package
    (compiledir / "lock_dir").mkdir()
    return root


def test_cache_paths(stack, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    tag = cachedir.cache_tag()
    assert tag.startswith("py3.11-np1.23.5-th1.0.5-")
    assert cachedir.cache_root() == str(tmp_path / "xdg" / "gradcheck-ci")
    assert cachedir.theano_cache_dir() == str(tmp_path / "xdg" / "gradcheck-ci" / "theano" / tag)
    monkeypatch.setenv(cachedir.CACHE_DIR_ENV, "rel/cache")
    monkeypatch.chdir(tmp_path)
    assert cachedir.cache_root() == str(tmp_path / "rel" / "cache")
    assert cachedir.functions_cache_dir() == str(tmp_path / "rel" / "cache" / "functions" / tag)
    # in the image: the baked cache, unless a cache directory is chosen
    baked = baked_cache(tmp_path / "baked")
    monkeypatch.setenv(cachedir.CACHE_ENV, str(baked))
    assert cachedir.theano_cache_dir() == str(tmp_path / "rel" / "cache" / "theano" / tag)
    monkeypatch.delenv(cachedir.CACHE_DIR_ENV)
    assert cachedir.theano_cache_dir() == str(baked)
    # nothing to prepare: Theano uses the baked cache as it is
    assert cachedir.prepare_cache() is None


def test_the_stamp_names_everything_compiled_code_depends_on(stack, monkeypatch):
    stamp = cachedir.cache_stamp()
    assert set(stamp) == {"gradcheck-ci", "python", "machine", "numpy", "theano", "compiler"}
    tag = cachedir.cache_tag()
    monkeypatch.setitem(cachedir._COMPILERS, "g++", "g++ (Debian 13.2.0-1) 13.2.0")
    assert cachedir.cache_tag() != tag  # another compiler: another cache
    monkeypatch.setitem(cachedir._COMPILERS, "clang++", "clang version 16")
    assert cachedir.cache_stamp({"THEANO_FLAGS": "cxx=clang++"})["compiler"] == "clang version 16"


def test_a_new_cache_dir_is_seeded_from_the_image_and_never_committed(stack, tmp_path, monkeypatch):
    baked = baked_cache(tmp_path / "baked")
    monkeypatch.setenv(cachedir.CACHE_ENV, str(baked))
    monkeypatch.setenv(cachedir.CACHE_DIR_ENV, str(tmp_path / "ws" / ".gradcheck-ci-cache"))
    state = cachedir.prepare_cache()
    root = tmp_path / "ws" / ".gradcheck-ci-cache"
    assert (root / ".gitignore").read_text().splitlines()[-1] == "*"
    theano_dir = Path(state.theano_dir)
    assert theano_dir == root / "theano" / cachedir.cache_tag()
    # and lazylinker_ext, __init__.py; never the lock
    assert state.seeded == 2 and state.modules == 2
    assert (theano_dir / "compiledir_gradcheck-ci" / "lazylinker_ext").is_dir()
    assert (theano_dir / "compiledir_gradcheck-ci" / "__init__.py").is_file()
    assert (theano_dir / "compiledir_gradcheck-ci" / "tmpaaa" / "key.pkl").read_bytes() == (
        b"key of tmpaaa"
    )
    assert not (theano_dir / "compiledir_gradcheck-ci" / "lock_dir").exists()
    assert not (theano_dir / ".seeding").exists()
    assert json.loads((theano_dir / cachedir.STAMP_FILE).read_text()) == cachedir.cache_stamp()
    # the compiled-functions folder: the same stamp, under the same tag
    assert (
        state.functions_dir
        == cachedir.functions_cache_dir()
        == str(root / "functions" / cachedir.cache_tag())
    )
    assert (
        json.loads((Path(state.functions_dir) / cachedir.STAMP_FILE).read_text())
        == cachedir.cache_stamp()
    )
    assert "2 compiled module(s), 2 of them copied" in state.describe()
    # a restored cache already has them: nothing is copied again; a module the image lacks stays
    (theano_dir / "compiledir_gradcheck-ci" / "tmpuser").mkdir()
    again = cachedir.prepare_cache()
    assert again.seeded == 0 and again.modules == 3


def test_a_cache_dir_with_other_content_gets_no_gitignore(stack, tmp_path, monkeypatch):
    (tmp_path / "notes.txt").write_text("mine")
    monkeypatch.setenv(cachedir.CACHE_DIR_ENV, str(tmp_path))
    cachedir.prepare_cache()
    assert not (tmp_path / ".gitignore").exists()
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_a_cache_of_another_stack_is_ignored_then_retired(stack, tmp_path, monkeypatch):
    monkeypatch.setenv(cachedir.CACHE_DIR_ENV, str(tmp_path))
    theano_root = tmp_path / "theano"
    for other, age_days in (
        ("py3.11-np1.24.0-th1.0.5-aaaaaaaaaaaa", 30),
        ("py3.11-np1.23.5-th1.0.5-bbbbbbbbbbbb", 1),
    ):
        (theano_root / other / "compiledir_gradcheck-ci" / "tmpold").mkdir(parents=True)
        stamp = theano_root / other / cachedir.STAMP_FILE
        stamp.write_text("{}")
        os.utime(stamp, (time.time() - age_days * 86400,) * 2)
    (theano_root / "not-ours").mkdir()  # no stamp: never touched
    old_functions = tmp_path / "functions" / "py3.11-np1.24.0-th1.0.5-aaaaaaaaaaaa"
    old_functions.mkdir(parents=True)
    (old_functions / cachedir.STAMP_FILE).write_text("{}")
    os.utime(old_functions / cachedir.STAMP_FILE, (time.time() - 30 * 86400,) * 2)
    state = cachedir.prepare_cache()
    assert not old_functions.exists()
    assert state.modules == 0  # nothing of another stack is used
    assert state.retired == ["py3.11-np1.24.0-th1.0.5-aaaaaaaaaaaa"]
    assert state.others == ["py3.11-np1.23.5-th1.0.5-bbbbbbbbbbbb"]
    assert not (theano_root / "py3.11-np1.24.0-th1.0.5-aaaaaaaaaaaa").exists()
    assert (theano_root / "py3.11-np1.23.5-th1.0.5-bbbbbbbbbbbb").exists() and (
        theano_root / "not-ours"
    ).exists()
    assert "ignored the cache of another stack version" in state.describe()


def test_stale_compile_locks_are_removed(stack, tmp_path, monkeypatch):
    monkeypatch.setenv(cachedir.CACHE_DIR_ENV, str(tmp_path))
    theano_dir = Path(cachedir.theano_cache_dir())
    locks = {}
    # alive, here: kept
    for name, owner in (
        ("a", f"{os.getpid()}_0123456789_{socket.gethostname()}"),
        # another machine (a restored CI cache)
        ("b", "1_0123456789_runner-vm-elsewhere"),
        ("c", ""),
    ):  # unreadable
        lock_dir = theano_dir / f"compiledir_{name}" / "lock_dir"
        lock_dir.mkdir(parents=True)
        (lock_dir / "lock").write_text(owner + "\n")
        locks[name] = lock_dir
    state = cachedir.prepare_cache()
    assert state.stale_locks == 2
    assert locks["a"].exists() and not locks["b"].exists() and not locks["c"].exists()


def test_an_unusable_cache_dir_is_one_clear_error(stack, tmp_path, monkeypatch):
    (tmp_path / "file").write_text("x")
    monkeypatch.setenv(cachedir.CACHE_DIR_ENV, str(tmp_path / "file"))
    with pytest.raises(
        cachedir.CacheDirError, match="cannot use the cache directory .*file: it is a file, not a"
    ):
        cachedir.prepare_cache()


def test_modules_do_not_expire_after_24_days(stack):
    flags = parse_flags(compat.theano_flags("float64", {}))
    assert int(flags["cmodule.age_thresh_use"]) >= 10 * 365 * 86400
    assert (
        parse_flags(compat.theano_flags("float64", {"THEANO_FLAGS": "cmodule.age_thresh_use=5"}))[
            "cmodule.age_thresh_use"
        ]
        == "5"
    )


def test_stack_problem_says_what_to_install():
    assert stack_problem((3, 11), lambda name: "1.0") is None
    on_312 = stack_problem((3, 12), lambda name: "1.0")
    assert "Python 3.11" in on_312 and "3.12" in on_312 and "gradcheck-ci[check]" in on_312
    assert "merge" in on_312
    light = stack_problem((3, 11), lambda name: "none" if name in ("Theano", "Lasagne") else "1.0")
    assert "Theano 1.0.5, Lasagne 0.1 are not installed" in light and "gradcheck-ci[check]" in light


def test_cache_paths_in_messages_name_no_absolute_path_of_the_machine(tmp_path, monkeypatch):
    from gradcheck_ci.platform.cachedir import shown_path

    (tmp_path / "repo").mkdir()
    monkeypatch.chdir(tmp_path / "repo")
    assert (
        shown_path(str(tmp_path / "repo" / ".gradcheck-ci-cache" / "theano"))
        == ".gradcheck-ci-cache/theano"
    )
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert shown_path(str(tmp_path / "home" / ".cache" / "gradcheck-ci")) == "~/.cache/gradcheck-ci"


def test_damaged_compiled_modules_are_moved_aside_once_and_said(stack, tmp_path, monkeypatch):
    monkeypatch.setenv(cachedir.CACHE_DIR_ENV, str(tmp_path))
    compiledir = Path(cachedir.theano_cache_dir()) / "compiledir_x"
    modules = {  # folder: (its __init__.py, its .so)
        # garbage written over it
        "lazylinker_ext": (b"_version = 0.2\x00\xff garbage ((", tiny_elf()),
        "cutils_ext": (b"", b"not an ELF file at all"),  # a bad ELF header
        "tmpcut": (b"", tiny_elf()[:80]),  # cut short: its program header is gone
        "tmpname": (b"_vers", tiny_elf()),  # a truncated `_version = 0.211`: a NameError on import
        "tmpgood": (b"", tiny_elf()),
        "tmpversion": (b"_version = 0.211\n", tiny_elf()),
    }
    for name, (init, library) in modules.items():
        (compiledir / name).mkdir(parents=True)
        (compiledir / name / "__init__.py").write_bytes(init)
        (compiledir / name / f"{name}.so").write_bytes(library)
    (compiledir / "__init__.py").write_text("")
    state = cachedir.prepare_cache()
    assert state.damaged == ["cutils_ext", "lazylinker_ext", "tmpcut", "tmpname"]
    assert sorted(p.name for p in compiledir.iterdir()) == ["__init__.py", "tmpgood", "tmpversion"]
    aside = Path(state.theano_dir) / ".damaged" / "compiledir_x"
    assert (aside / "lazylinker_ext" / "__init__.py").read_bytes().startswith(b"_version = 0.2\x00")
    assert state.modules == 2  # what is moved aside is not counted
    assert state.describe().endswith(
        "; moved aside 4 damaged compiled module(s) (cutils_ext, "
        "lazylinker_ext, tmpcut, tmpname) to .damaged/, to be "
        "compiled again"
    )
    assert cachedir.prepare_cache().damaged == []  # said once: the next run finds nothing


def test_a_compile_directory_being_compiled_in_is_left_alone(stack, tmp_path, monkeypatch):
    monkeypatch.setenv(cachedir.CACHE_DIR_ENV, str(tmp_path))
    compiledir = Path(cachedir.theano_cache_dir()) / "compiledir_x"
    (compiledir / "tmphalf").mkdir(parents=True)
    (compiledir / "tmphalf" / "tmphalf.so").write_bytes(tiny_elf()[:40])  # g++ is still writing it
    (compiledir / "lock_dir").mkdir()
    (compiledir / "lock_dir" / "lock").write_text(
        f"{os.getpid()}_0123456789_{socket.gethostname()}\n"
    )
    assert cachedir.prepare_cache().damaged == []
    assert (compiledir / "tmphalf" / "tmphalf.so").exists()


def test_dangling_links_where_the_cache_keeps_its_own_are_bad_entries_not_an_unusable_cache(
    stack, tmp_path, monkeypatch
):
    monkeypatch.setenv(cachedir.CACHE_DIR_ENV, str(tmp_path))
    tag = cachedir.cache_tag()
    places = ["theano", f"functions/{tag}", "theano/.lock", f"theano/{tag}/{cachedir.STAMP_FILE}"]
    for number, place in enumerate(places):
        cachedir.prepare_cache()
        link = tmp_path / place
        if link.is_dir():
            shutil.rmtree(link)
        elif link.exists():
            link.unlink()
        link.symlink_to(tmp_path / "gone" / str(number))  # e.g. a volume that is not mounted now
        state = cachedir.prepare_cache()
        assert not link.is_symlink() and link.exists(), place
        assert Path(state.theano_dir).is_dir() and Path(state.functions_dir).is_dir()
    module = Path(cachedir.theano_cache_dir()) / "compiledir_x" / "tmpgone"
    module.parent.mkdir()
    module.symlink_to(tmp_path / "gone" / "module")
    cachedir.prepare_cache()
    assert not os.path.lexists(module)  # Theano would trip over it
    real = tmp_path / "elsewhere"
    real.mkdir()
    shutil.rmtree(tmp_path / "functions")
    (tmp_path / "functions").symlink_to(real)  # a link to a real place is the user's choice: kept
    cachedir.prepare_cache()
    assert (tmp_path / "functions").is_symlink() and (real / tag).is_dir()


def test_a_file_inside_the_cache_dir_where_a_folder_goes_is_named(stack, tmp_path, monkeypatch):
    root = tmp_path / "cache"
    root.mkdir()
    (root / "theano").write_text("not a folder")  # where the Theano cache's folder goes
    monkeypatch.setenv(cachedir.CACHE_DIR_ENV, str(root))
    with pytest.raises(cachedir.CacheDirError) as raised:
        cachedir.prepare_cache()
    message = str(raised.value)
    assert message.startswith("cannot use the cache directory ")
    # the path the OS stopped at, below the file that stands in the way
    assert f"({cachedir.shown_path(str(root / 'theano'))}/" in message, message
