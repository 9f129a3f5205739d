"""The function cache's bookkeeping, without Theano: entry files checked before they are trusted,
pruning, the summary the report shows, when the cache is off. tests/integration/test_fncache.py has
the rest, on real compiled functions."""

from __future__ import annotations

import hashlib
import json
import os
import shutil

import pytest

from gradcheck_ci.platform import cachedir, fncache, graphkey

KEY = "ab" * 32


def entry(payload: bytes, key: str = KEY, **header: object) -> bytes:
    fields = {
        "format": graphkey.FORMAT,
        "key": key,
        "length": len(payload),
        "sha256": hashlib.sha256(payload).hexdigest(),
        **header,
    }
    return fncache.MAGIC + json.dumps(fields).encode() + b"\n" + payload


def test_a_whole_entry_gives_its_payload():
    assert fncache._payload(entry(b"PICKLE"), KEY) == (b"PICKLE", "")


@pytest.mark.parametrize(
    "raw, problem",
    [
        (b"", "not a function cache entry"),
        (b"something else entirely", "not a function cache entry"),
        (fncache.MAGIC + b"{not json\n" + b"x", "corrupt entry header"),
        (fncache.MAGIC + b"[1, 2]\n" + b"x", "corrupt entry header"),
        (entry(b"PICKLE", format=graphkey.FORMAT + 1), "entry of another format"),
        (entry(b"PICKLE", key="cd" * 32), "entry of another key"),
        (entry(b"PICKLE")[:-2], "truncated entry"),
        (entry(b"PICKLE")[:-1] + b"X", "corrupt entry"),
        (entry(b"PICKLE") + b"more", "truncated entry"),
    ],
)
def test_an_entry_that_is_not_whole_and_ours_is_refused(raw, problem):
    payload, why = fncache._payload(raw, KEY)
    assert payload is None
    assert why.startswith(problem)


def test_load_says_why_no_entry_was_used(tmp_path):
    assert fncache.load(str(tmp_path), KEY) == (None, "")  # none: not a problem
    (tmp_path / (KEY + fncache.SUFFIX)).write_bytes(entry(b"PICKLE")[:-3])
    assert fncache.load(str(tmp_path), KEY) == (None, "truncated entry")


def test_prune_keeps_recent_entries_within_the_size_and_removes_leftovers(tmp_path):
    now = 1_000_000_000.0
    ages = {"old": fncache.KEEP_SECONDS + 10, "recent": 10, "newest": 1, "big": 5}
    for name, age in ages.items():
        path = tmp_path / f"{name}{fncache.SUFFIX}"
        path.write_bytes(b"x" * (300 if name == "big" else 100))
        os.utime(path, (now - age, now - age))
    leftover = tmp_path / ".tmp-abc.fn"  # a writer that died
    leftover.write_bytes(b"half")
    os.utime(leftover, (now - 7200, now - 7200))
    fresh = tmp_path / ".tmp-def.fn"  # a writer at work
    fresh.write_bytes(b"half")
    os.utime(fresh, (now - 5, now - 5))
    (tmp_path / cachedir.STAMP_FILE).write_text("{}")

    deleted = fncache.prune(str(tmp_path), now=now, keep_bytes=450)
    left = sorted(p.name for p in tmp_path.iterdir())
    # newest (100) + big (300) fit in 450; recent would exceed it; old is too old anyway
    assert left == sorted([".tmp-def.fn", "big.fn", "newest.fn", cachedir.STAMP_FILE])
    assert deleted == 2
    assert fncache.count(str(tmp_path)) == 2


def test_prune_and_count_of_a_missing_folder():
    assert fncache.prune("/nonexistent/gradcheck-ci/functions") == 0
    assert fncache.count("/nonexistent/gradcheck-ci/functions") == 0


def test_summary_of_a_groups_compiles():
    E = fncache.Event
    assert fncache.summary([E("hit", 1.0), E("hit", 0.5)]).cache == "hit"
    mixed = fncache.summary([E("hit", 1.0), E("miss", 2.0, stored=True)])
    assert (mixed.cache, mixed.hits, mixed.misses, mixed.stored) == ("partial", 1, 1, 1)
    assert mixed.seconds == 3.0
    odd = fncache.summary([E("miss", 2.0, "truncated entry"), E("uncacheable", 1.0, "a lambda")])
    assert (odd.cache, odd.reason) == ("miss", "truncated entry")
    assert fncache.summary([E("off", 1.0)]).cache == "off"
    assert fncache.summary([]).cache == "none"


def test_a_temporary_cache_directory_keeps_nothing_for_the_next_run_and_says_so(
    tmp_path, monkeypatch
):
    from gradcheck_ci.engine.compile import _served

    E = fncache.Event
    persistent = [E("miss", 1.0, stored=True), E("miss", 1.0, stored=True)]
    assert _served(persistent) == "compiled (kept in the function cache for the next run)"
    assert fncache.summary(persistent).stored == 2
    temporary = [E("miss", 1.0, stored=True, temporary=True)] * 2
    assert _served(temporary) == (
        "compiled (not kept for the next run: this run's cache directory is temporary)"
    )
    # what the result's compile line reads: "compiled, not in the function cache", nothing kept
    assert (fncache.summary(temporary).cache, fncache.summary(temporary).stored) == ("miss", 0)
    root = cachedir.make_temporary_root()
    try:
        assert cachedir.is_temporary({cachedir.CACHE_DIR_ENV: root})
        monkeypatch.setenv(cachedir.CACHE_DIR_ENV, root)  # what the workers inherit
        assert cachedir.is_temporary()
    finally:
        shutil.rmtree(root)
    assert not cachedir.is_temporary({cachedir.CACHE_DIR_ENV: str(tmp_path)})
    assert not cachedir.is_temporary({"XDG_CACHE_HOME": str(tmp_path)})


def test_the_cache_is_off_when_disabled_or_inside_the_image_without_a_cache_directory(
    tmp_path, monkeypatch
):
    # unit tests start no process
    monkeypatch.setitem(cachedir._COMPILERS, "g++", "g++ (Debian 12.2.0-14) 12.2.0")
    baked = tmp_path / "baked"
    baked.mkdir()
    home = {"HOME": str(tmp_path), "XDG_CACHE_HOME": str(tmp_path / "xdg")}
    assert fncache.cache_dir(home) == cachedir.functions_cache_dir(home)
    assert fncache.cache_dir({**home, fncache.DISABLE_ENV: "1"}) is None
    image = {**home, cachedir.CACHE_ENV: str(baked)}
    assert fncache.cache_dir(image) is None  # nothing would outlive the container
    chosen = {**image, cachedir.CACHE_DIR_ENV: str(tmp_path / "cache")}
    assert fncache.cache_dir(chosen) == cachedir.functions_cache_dir(chosen)
    assert fncache.cache_dir(chosen).startswith(str(tmp_path / "cache"))
