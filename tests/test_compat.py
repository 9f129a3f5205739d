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


def test_parameterless_ops_get_cacheable_keys():
    """Theano 1.0.5 marks modules holding ops with empty __props__ (Alloc, ...) as unversioned: recompiled
    by every process. After the patch their key has a version, so the compile cache keeps them."""
    import subprocess
    import textwrap

    code = textwrap.dedent("""
        from gradcheck_ci import compat
        compat.prepare("float64")
        import theano, theano.tensor as T
        from theano.gof import cc
        x = T.vector()
        f = theano.function([x], T.alloc(x.sum(), 3))
        node = [n for n in f.maker.fgraph.toposort() if type(n.op).__name__ == "Alloc"][0]
        linker = cc.CLinker().accept(theano.gof.FunctionGraph(node.inputs, node.outputs))
        version, _ = linker.cmodule_key()
        print("versioned" if version else "unversioned")
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert out.stdout.strip().endswith("versioned") and "unversioned" not in out.stdout, out.stderr[-2000:]


def test_file_based_ops_keep_one_cache_version_across_processes():
    """Theano 1.0.5 versions COp modules (DimShuffle, ...) with hash() of their C code, which Python salts
    per process: every process missed the compile cache. After the patch two processes agree."""
    import subprocess
    import textwrap

    code = textwrap.dedent("""
        from gradcheck_ci import compat
        compat.prepare("float64")
        from theano.tensor.elemwise import DimShuffle
        print(DimShuffle((False,), ("x", 0)).c_code_cache_version())
    """)
    versions = set()
    for salt in ("1", "2"):
        env = dict(os.environ, PYTHONHASHSEED=salt)
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600, env=env)
        assert out.returncode == 0, out.stderr[-2000:]
        versions.add(out.stdout.strip().splitlines()[-1])
    assert len(versions) == 1, versions
