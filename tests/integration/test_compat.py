"""Theano 1.0.5's compile cache, patched by gradcheck_ci/platform/compat.py, seen from fresh
interpreters that import Theano (the flag and shim tests, which never import it, are in
tests/unit/test_compat.py)."""

import os
import sys

import pytest


def test_parameterless_ops_get_cacheable_keys():
    """Theano 1.0.5 marks modules holding ops with empty __props__ (Alloc, ...) as unversioned:
    recompiled by every process. After the patch their key has a version, so the compile cache keeps
    them."""
    import subprocess
    import textwrap

    code = textwrap.dedent("""
        from gradcheck_ci.platform import compat
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
    assert out.stdout.strip().endswith("versioned") and "unversioned" not in out.stdout, out.stderr[
        -2000:
    ]


def test_file_based_ops_keep_one_cache_version_across_processes():
    """Theano 1.0.5 versions COp modules (DimShuffle, ...) with hash() of their C code, which Python
    salts per process: every process missed the compile cache. After the patch two processes
    agree."""
    import subprocess
    import textwrap

    code = textwrap.dedent("""
        from gradcheck_ci.platform import compat
        compat.prepare("float64")
        from theano.tensor.elemwise import DimShuffle
        print(DimShuffle((False,), ("x", 0)).c_code_cache_version())
    """)
    versions = set()
    for salt in ("1", "2"):
        env = dict(os.environ, PYTHONHASHSEED=salt)
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=600, env=env
        )
        assert out.returncode == 0, out.stderr[-2000:]
        versions.add(out.stdout.strip().splitlines()[-1])
    assert len(versions) == 1, versions


def test_batched_dot_evaluates_where_c_evaluates():
    """T.batched_dot's C code needs the BLAS library blas.ldflags leaves out: its module compiled,
    then failed to load (undefined symbol: dgemm_), so an attention model was an error wherever C
    evaluates. After the patch it runs its Python code inside a C-linked function."""
    import subprocess
    import textwrap

    code = textwrap.dedent("""
        from gradcheck_ci.platform import compat
        compat.prepare("float64")
        import numpy as np, theano, theano.tensor as T
        assert theano.config.cxx, "this test is about C"
        a, b = T.tensor3(), T.tensor3()
        f = theano.function([a, b], T.grad(T.batched_dot(a, b).sum(), a))
        x, y = np.random.rand(2, 3, 4), np.random.rand(2, 4, 5)
        print(np.allclose(f(x, y), np.einsum("bjk,bik->bij", y, np.ones((2, 3, 5)))))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=900)
    assert out.returncode == 0 and out.stdout.strip().endswith("True"), out.stderr[-2000:]


# ---- the compile cache across machines and time
# -------------------------------------------------------------

COMPILE_A_FUNCTION = """
import os, sys
from gradcheck_ci.platform import compat
compat.prepare("float64")
import theano, theano.tensor as T
x = T.matrix()
theano.function([x], T.tanh(x).sum() * 3 + T.exp(x).max())
compiledir = theano.config.compiledir
print("MODULES", len([d for d in os.listdir(compiledir) if d.startswith("tmp")]))
"""


def compile_in_fresh_process(cache_dir, env_extra=None) -> int:
    """Compile one small function in a new interpreter with `cache_dir` as gradcheck-ci's cache
    directory; the number of module folders Theano's compiledir holds afterwards."""
    import subprocess

    env = dict(os.environ, GRADCHECK_CI_CACHE_DIR=str(cache_dir), **(env_extra or {}))
    env.pop("GRADCHECK_THEANO_CACHE", None)
    env.pop("THEANO_FLAGS", None)
    out = subprocess.run(
        [sys.executable, "-c", COMPILE_A_FUNCTION],
        capture_output=True,
        text=True,
        timeout=900,
        env=env,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return int(
        next(line for line in out.stdout.splitlines() if line.startswith("MODULES")).split()[1]
    )


def module_files(cache_dir):
    from pathlib import Path

    return sorted(p for p in Path(cache_dir).rglob("*.so") if p.parent.name.startswith("tmp"))


def test_a_cache_made_long_ago_and_without_c_sources_is_still_used(tmp_path):
    """The baked cache and a restored CI cache carry their build time as access time, and the image
    ships no C sources (mod.cpp): neither may make Theano compile again (it would after 24 days
    unless compat lifts cmodule.age_thresh_use, and the image strips mod.cpp)."""
    from pathlib import Path

    first = compile_in_fresh_process(tmp_path)
    assert first > 0
    month_ago = __import__("time").time() - 40 * 86400
    for path in Path(tmp_path).rglob("*"):
        if path.name == "mod.cpp":
            path.unlink()
        elif path.is_file():
            os.utime(path, (month_ago, month_ago))
    before = module_files(tmp_path)
    assert compile_in_fresh_process(tmp_path) == first  # nothing new compiled
    assert module_files(tmp_path) == before  # and nothing deleted as too old


def test_a_cache_of_another_stack_is_not_used(tmp_path):
    """A cache stamped by another numpy (an older image) sits under another tag: compiled afresh,
    not loaded."""
    from gradcheck_ci.platform import cachedir

    compile_in_fresh_process(tmp_path)
    [used] = [d for d in (tmp_path / "theano").iterdir() if d.is_dir()]
    assert used.name == cachedir.cache_tag()
    foreign = tmp_path / "theano" / used.name.replace("np1.23.5", "np1.24.0")
    used.rename(foreign)
    (foreign / cachedir.STAMP_FILE).write_text('{"numpy": "1.24.0"}')
    assert compile_in_fresh_process(tmp_path) > 0
    assert sorted(d.name for d in (tmp_path / "theano").iterdir() if d.is_dir()) == sorted(
        [foreign.name, cachedir.cache_tag()]
    )


LAZY_COMPOSITE = """
import pickle
from gradcheck_ci.platform import compat
compat.prepare("float64")
import numpy as np
import theano, theano.tensor as T
from theano.scalar.basic import Composite
x = T.dvector()
f = theano.function([x], T.tanh(x) * 3 + T.exp(-x) ** 2)
[op] = [n.op.scalar_op for n in f.maker.fgraph.toposort()
        if isinstance(getattr(n.op, "scalar_op", None), Composite)]
op.init_c_code()  # as a compiled module's key holds it
loaded = pickle.loads(pickle.dumps(op))
print("LAZY", "fgraph" not in loaded.__dict__)
print("EQUAL", loaded == op, hash(loaded) == hash(op))
print("IMPL", loaded.impl(*[0.3] * op.nin) == op.impl(*[0.3] * op.nin))
print("VERSION", loaded.c_code_cache_version() == op.c_code_cache_version())
again = pickle.loads(pickle.dumps(pickle.loads(pickle.dumps(op))))  # a lazy one pickles too
print("AGAIN", again.impl(*[-1.5] * op.nin) == op.impl(*[-1.5] * op.nin), str(again) == str(op))
"""


def test_fused_ops_unpickle_without_rebuilding_their_graph_and_compute_the_same():
    import subprocess

    out = subprocess.run(
        [sys.executable, "-c", LAZY_COMPOSITE], capture_output=True, text=True, timeout=900
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.split() == [
        "LAZY",
        "True",
        "EQUAL",
        "True",
        "True",
        "IMPL",
        "True",
        "VERSION",
        "True",
        "AGAIN",
        "True",
        "True",
    ]


MARCH = """
import json
from gradcheck_ci.platform import compat
compat.prepare("float64")
import theano, theano.tensor as T
from theano.gof import cmodule
before = cmodule.GCC_compiler.march_flags
x = T.dvector()
assert theano.function([x], T.tanh(x) * 7)([0.5]) is not None
print(json.dumps({"before": before, "after": cmodule.GCC_compiler.march_flags}))
"""


def test_the_march_flags_theano_detects_are_kept_for_the_next_process(tmp_path):
    """Outside the image Theano runs g++ three times per process to find this CPU's -march flags;
    the second process reads what the first found (march_flags set before any compile) and compiles
    with the same flags (so it finds the first one's modules); a file made for another CPU is not
    used."""
    import json
    import subprocess

    from gradcheck_ci.platform import compat

    env = dict(os.environ, GRADCHECK_CI_CACHE_DIR=str(tmp_path))
    env.pop("GRADCHECK_THEANO_CACHE", None)
    env.pop("THEANO_FLAGS", None)  # no gcc.cxxflags: detection as a pip install has it

    def run() -> dict:
        out = subprocess.run(
            [sys.executable, "-c", MARCH], capture_output=True, text=True, timeout=900, env=env
        )
        assert out.returncode == 0, out.stderr[-3000:]
        return json.loads(out.stdout.strip().splitlines()[-1])

    first = run()
    [saved] = list(tmp_path.rglob(compat.MARCH_FILE))
    assert first["after"] and first["after"] == json.loads(saved.read_text())["flags"]
    second = run()
    assert second["before"] == first["after"]  # read, not detected
    modules = sorted(
        p.parent.name for p in tmp_path.rglob("*.so") if p.parent.name.startswith("tmp")
    )
    assert len(modules) == len(set(modules)) and modules  # nothing compiled twice
    saved.write_text(json.dumps({"identity": "another CPU", "flags": ["-march=nonsense"]}))
    third = run()
    assert third["before"] != ["-march=nonsense"] and third["after"] == first["after"]
    assert json.loads(saved.read_text())["flags"] == first["after"]


@pytest.mark.slow  # Theano's own extensions and a module compiled again (a minute or two, cold)
def test_a_damaged_compile_cache_is_moved_aside_recompiled_and_said_once(tmp_path):
    """A garbage `lazylinker_ext/__init__.py`, a `cutils_ext.so` with a bad ELF header and a
    module's `.so` cut short broke every model with Theano's traceback. Now the check moves them
    aside, Theano compiles them again, and the run says so once: no traceback, no path of the
    installation."""
    import shutil
    import textwrap
    from pathlib import Path

    from gradcheck_ci.platform import cachedir
    from tests.harness import assert_no_traceback, run_cli

    default = Path(
        cachedir.theano_cache_dir(
            {k: v for k, v in os.environ.items() if k != cachedir.CACHE_DIR_ENV}
        )
    )
    cache = tmp_path / "cache"
    theano_dir = cache / "theano" / cachedir.cache_tag()
    if default.is_dir():  # warm: the shared cache's modules, in a private copy this test may damage
        shutil.copytree(
            default, theano_dir, symlinks=True, ignore=shutil.ignore_patterns("lock_dir")
        )
    repo = tmp_path / "repo"
    (repo / "models").mkdir(parents=True)
    (repo / "models" / "net.py").write_text(
        textwrap.dedent("""
        import lasagne
        from lasagne.layers import DenseLayer, InputLayer


        def build():
            return DenseLayer(InputLayer((None, 3)), 2, nonlinearity=lasagne.nonlinearities.softmax)
    """)
    )
    (repo / "gradcheck.yml").write_text(
        "version: 1\nmodels:\n  - name: net\n    factory: "
        "models/net.py:build\n    data: {sequences: 4, features: "
        "3}\n"
    )
    check = ("check", "--cache-dir", str(cache))
    # Theano's modules are what is damaged, and must be loaded
    env = {"GRADCHECK_CI_NO_FUNCTION_CACHE": "1"}
    if not default.is_dir():
        assert run_cli(*check, cwd=repo, env=env).code == 0  # cold: made here, then damaged
    [compiledir] = [d for d in theano_dir.iterdir() if d.name.startswith("compiledir_")]
    if not (compiledir / "cutils_ext").is_dir():
        pytest.skip("this stack's Theano keeps no cutils_ext")
    (compiledir / "lazylinker_ext" / "__init__.py").write_bytes(
        b"_version = 0.2\x00\xff garbage (("
    )
    (compiledir / "cutils_ext" / "cutils_ext.so").write_bytes(b"not an ELF file at all")
    modules = sorted(compiledir.glob("tmp*/*.so"))
    modules[0].write_bytes(modules[0].read_bytes()[:100])

    run = run_cli(*check, cwd=repo, env=env)
    assert run.code == 0 and "PASS net" in run.output, run.output
    assert_no_traceback(run)
    assert run.output.count("damaged compiled module") == 1, run.output
    assert (
        f"moved aside 3 damaged compiled module(s) (cutils_ext, lazylinker_ext, "
        f"{modules[0].parent.name})"
    ) in run.output
    assert "site-packages" not in run.output and "theano/gof" not in run.output
    again = run_cli(*check, cwd=repo, env=env)
    # recompiled whole: nothing to move
    assert again.code == 0 and "damaged compiled" not in again.output, again.output
