"""Theano 1.0.5's compile cache, patched by gradcheck_ci/compat.py, seen from fresh interpreters that import
Theano (the flag and shim tests, which never import it, are in tests/unit/test_compat.py)."""
import os
import sys


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
