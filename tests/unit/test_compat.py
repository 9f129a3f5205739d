"""Theano flags are merged, never clobbered; the import shims are in place (no Theano import here)."""
import os
import sys

from gradcheck_ci import compat


def test_flags_keep_user_choices(tmp_path):
    env = {"THEANO_FLAGS": "optimizer=fast_compile,blas.ldflags=-lopenblas,base_compiledir=/x"}
    flags = compat.parse_flags(compat.theano_flags("float32", env))
    assert flags["floatX"] == "float32"
    assert flags["optimizer"] == "fast_compile"
    assert flags["blas.ldflags"] == "-lopenblas"
    assert flags["base_compiledir"] == "/x"


def test_flags_defaults(tmp_path, monkeypatch):
    monkeypatch.setenv(compat.CACHE_ENV, str(tmp_path))
    flags = compat.parse_flags(compat.theano_flags("float64", {}))
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
    copy = compat.writable_cache(str(baked))
    assert copy != str(baked)
    assert (tmp_path / "tmp").as_posix() in copy
    assert open(os.path.join(copy, "compiledir_x", "entry")).read() == "cached"


def test_import_shims_register_modules():
    compat.install_import_shims()
    assert sys.modules["theano.scan_module.scan_perform_ext"] is None
    assert hasattr(sys.modules["theano.tensor.signal.downsample"], "max_pool_2d")
