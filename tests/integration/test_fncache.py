"""The function cache (gradcheck_ci/platform/fncache.py) on real Theano graphs, each step in a fresh
interpreter as the check's workers are: what one process stores, the next loads, and it computes the
same numbers; a key that changes with everything a compiled function depends on; bad entries ignored
and replaced; concurrent writers; no parameter values in an entry; graphs deeper than the main
thread's stack.

The probe script below compiles through functions.compile_function (the check's own path) with the
function cache in a folder of the test's, and prints one JSON line per request. Theano's own compile
cache is the usual one, so only graph optimisation is paid here, not g++.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests import FIXTURES, REPO
from tests.harness import cli_env, run_cli

PROBE = textwrap.dedent(r'''
    import hashlib, json, os, sys
    from gradcheck_ci.platform import compat
    compat.prepare(os.environ.get("PROBE_FLOATX", "float64"))
    import numpy as np
    import theano, theano.tensor as T
    import lasagne
    from gradcheck_ci.platform import functions
    from gradcheck_ci.platform import fncache
    from gradcheck_ci.platform import graphkey

    fncache.cache_dir = lambda environ=None: os.environ["PROBE_CACHE"]

    def network(kind, **kw):
        """(output layer, input variable, data)"""
        rng = np.random.RandomState(0)
        lasagne.random.set_rng(np.random.RandomState(1))
        if kind == "dense":
            l_in = lasagne.layers.InputLayer((None, 5))
            nonlinearity = getattr(lasagne.nonlinearities, kw.get("nonlinearity", "tanh"))
            l_hid = lasagne.layers.DenseLayer(l_in, 7, nonlinearity=nonlinearity)
            l_out = lasagne.layers.DenseLayer(l_hid, 3,
                                              nonlinearity=lasagne.nonlinearities.softmax)
            data = rng.rand(4, 5)
        else:  # a recurrent layer with a learn_init=False hid_init: a shared non-parameter
            l_in = lasagne.layers.InputLayer((None, None, 2))
            l_rec = lasagne.layers.RecurrentLayer(
                l_in, 4, gradient_steps=kw.get("gradient_steps", -1),
                grad_clipping=kw.get("grad_clipping", 0) or False,
                hid_init=lasagne.init.Uniform(1.0), precompute_input=False)
            l_out = lasagne.layers.DenseLayer(lasagne.layers.ReshapeLayer(l_rec, (-1, 4)), 3,
                                              nonlinearity=lasagne.nonlinearities.softmax)
            data = rng.rand(3, 6, 2)
        return l_out, l_in.input_var, data.astype(theano.config.floatX)

    class Twice(theano.Op):
        """A user's op with no source file (made in `python -c`) holding a lambda: no key can
        describe it."""
        __props__ = ()

        def __init__(self):
            self.fn = lambda v: 2 * v

        def make_node(self, x):
            x = T.as_tensor_variable(x)
            return theano.Apply(self, [x], [x.type()])

        def perform(self, node, inputs, outputs):
            outputs[0][0] = self.fn(inputs[0])

        def grad(self, inputs, grads):
            return [2 * grads[0]]

    def request(kind, scale=2.0, freeze=False, lambda_op=False, **kw):
        l_out, x, data = network(kind, **kw)
        params = lasagne.layers.get_all_params(l_out, trainable=True)
        symbolic = [T.TensorType(p.dtype, p.broadcastable)(p.name) for p in params]
        out = lasagne.layers.get_output(l_out, deterministic=True)
        loss = T.sum((Twice()(out) if lambda_op else out) ** 2) * scale
        grads = theano.grad(loss, params)
        values = [p.get_value() for p in params]
        return ([x] + symbolic, [loss] + grads, list(zip(params, symbolic)), freeze,
                [data] + values, params, l_out)

    def run(case):
        inputs, outputs, givens, freeze, args, params, l_out = request(**case)
        before = len(fncache.EVENTS)
        limit = sys.getrecursionlimit()
        fn = functions.compile_function(inputs, outputs, givens, freeze)
        event = fncache.EVENTS[before]
        try:
            options = {"on_unused_input": "ignore", "no_default_updates": freeze}
            key = graphkey.function_key(inputs, outputs, givens, options)
        except graphkey.Uncacheable:
            key = None
        values = [np.asarray(v) for v in fn(*args)]
        shared = [s for s in lasagne.layers.get_all_params(l_out) if s not in params]
        bound = [any(c.data is s.get_value(borrow=True) for c in fn.input_storage)
                 for s in shared]
        return {"key": key, "outcome": event.outcome, "reason": event.reason,
                "stored": event.stored,
                "values": [hashlib.sha256(v.tobytes()).hexdigest() for v in values],
                "loss": float(values[0]),
                "param_bytes": [p.get_value().tobytes().hex() for p in params],
                "shared_bytes": [s.get_value().tobytes().hex() for s in shared], "bound": bound,
                "limit_kept": sys.getrecursionlimit() == limit}

    for case in json.loads(sys.argv[1]):
        print("RESULT " + json.dumps(run(case)), flush=True)
''')


def probe(cache: Path, *cases: dict, floatx: str = "float64", flags: str = "") -> list[dict]:
    env = cli_env(PROBE_CACHE=str(cache), PROBE_FLOATX=floatx)
    if flags:
        env["THEANO_FLAGS"] = ",".join(filter(None, [env.get("THEANO_FLAGS"), flags]))
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(list(cases))],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=1200,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return [
        json.loads(line[len("RESULT ") :])
        for line in proc.stdout.splitlines()
        if line.startswith("RESULT ")
    ]


def entries(cache: Path) -> list[Path]:
    return sorted(p for p in cache.glob("*.fn"))


DENSE = {"kind": "dense"}
RNN = {"kind": "rnn"}


def test_a_stored_function_is_loaded_by_the_next_process_and_computes_the_same(tmp_path):
    (first,) = probe(tmp_path, DENSE)
    (second,) = probe(tmp_path, DENSE)
    assert (first["outcome"], first["stored"]) == ("miss", True)
    assert second["outcome"] == "hit"
    assert second["key"] == first["key"]
    assert second["values"] == first["values"]  # loss and every gradient, bit for bit
    assert first["limit_kept"] and second["limit_kept"]
    umask = os.umask(0)
    os.umask(umask)
    (entry,) = entries(tmp_path)
    # as open() makes files: a CI cache step reads it
    assert entry.stat().st_mode & 0o777 == 0o666 & ~umask


@pytest.mark.slow
def test_a_recurrent_function_and_its_shared_initial_state_round_trip(tmp_path):
    (first,) = probe(tmp_path, RNN)
    (second,) = probe(tmp_path, RNN)
    assert (first["outcome"], second["outcome"]) == ("miss", "hit")
    assert second["values"] == first["values"]
    # hid_init (learn_init=False) is a shared variable the function reads: the loaded function reads
    # the live variable's array, not the copy its entry holds
    assert second["bound"] == [True]


@pytest.mark.slow
def test_an_entry_holds_no_parameter_values(tmp_path):
    (result,) = probe(tmp_path, RNN)
    raw = entries(tmp_path)[0].read_bytes()
    # not zeros
    weights = [bytes.fromhex(h) for h in result["param_bytes"] if len(set(bytes.fromhex(h))) > 8]
    assert len(weights) >= 3
    for weight in weights:
        assert weight not in raw
    # the search would find an array the function does hold: the shared initial state
    # (learn_init=False)
    assert result["shared_bytes"] and all(bytes.fromhex(h) in raw for h in result["shared_bytes"])


@pytest.mark.slow
def test_the_key_is_the_same_in_every_process_and_changes_with_what_the_function_computes(tmp_path):
    variants = [
        DENSE,
        {"kind": "dense", "nonlinearity": "rectify"},
        {"kind": "dense", "scale": 2.5},
        {"kind": "dense", "freeze": True},
        RNN,
        {"kind": "rnn", "gradient_steps": 2},
        {"kind": "rnn", "grad_clipping": 5.0},
        {"kind": "rnn", "grad_clipping": 10.0},
    ]
    once = [r["key"] for r in probe(tmp_path / "a", *variants)]
    again = [r["key"] for r in probe(tmp_path / "b", *variants)]
    assert once == again
    assert len(set(once)) == len(variants)
    float32 = probe(tmp_path / "c", DENSE, floatx="float32")[0]["key"]
    assert float32 not in once


def test_theano_flags_are_part_of_the_key(tmp_path):
    (plain,) = probe(tmp_path, DENSE)
    (excluded,) = probe(tmp_path, DENSE, flags="optimizer_excluding=local_elemwise_fusion")
    assert excluded["key"] != plain["key"] and excluded["outcome"] == "miss"
    assert excluded["values"] == plain["values"] or excluded["loss"] == pytest.approx(plain["loss"])


def _damage(path: Path, how: str) -> None:
    raw = path.read_bytes()
    header_end = raw.index(b"\n", raw.index(b"\n") + 1) + 1
    if how == "truncated":
        path.write_bytes(raw[: len(raw) // 2])
    elif how == "corrupt":
        middle = header_end + (len(raw) - header_end) // 2
        path.write_bytes(raw[:middle] + bytes([raw[middle] ^ 0xFF]) + raw[middle + 1 :])
    elif how == "garbage":
        path.write_bytes(b"\x00not a function at all" * 100)
    elif how == "stale":  # an older format of this module
        path.write_bytes(raw.replace(b'"format": 1', b'"format": 0', 1))
    elif how == "foreign":  # a whole entry, for another key
        path.write_bytes(raw.replace(path.stem.encode(), b"0" * 64, 1))
    # header and digest right; then the pickle is wrong
    elif how in ("unloadable", "not-a-function"):
        import hashlib
        import pickle

        payload = (
            b"cgradcheck_ci_no_such_module\nThing\n."
            if how == "unloadable"
            else pickle.dumps({"not": "a function"})
        )
        header = json.loads(raw[raw.index(b"\n") + 1 : header_end - 1])
        header.update(length=len(payload), sha256=hashlib.sha256(payload).hexdigest())
        path.write_bytes(
            raw[: raw.index(b"\n") + 1] + json.dumps(header).encode() + b"\n" + payload
        )


@pytest.mark.parametrize(
    "how", ["truncated", "corrupt", "garbage", "stale", "foreign", "unloadable", "not-a-function"]
)
def test_a_bad_entry_is_ignored_and_replaced(tmp_path, how):
    (good,) = probe(tmp_path, DENSE)
    (entry,) = entries(tmp_path)
    _damage(entry, how)
    (after,) = probe(tmp_path, DENSE)
    assert after["outcome"] == "miss" and after["reason"], after  # never trusted, never a crash
    assert after["values"] == good["values"]
    assert after["stored"]
    (again,) = probe(tmp_path, DENSE)
    assert again["outcome"] == "hit"  # replaced by a good one


def test_a_graph_the_key_cannot_describe_is_compiled_and_not_stored(tmp_path):
    (first,) = probe(tmp_path, {"kind": "dense", "lambda_op": True})
    (plain,) = probe(tmp_path / "plain", DENSE)
    assert first["outcome"] == "uncacheable" and first["reason"], first
    assert not entries(tmp_path)
    # the op doubles the output: the loss is squared
    assert first["loss"] == pytest.approx(4 * plain["loss"])


WRITER_AND_READER = textwrap.dedent(r"""
    import os, sys, json
    from gradcheck_ci.platform import compat
    compat.prepare("float64")
    import theano, theano.tensor as T
    from gradcheck_ci.platform import fncache
    x = T.vector("x")
    fn = theano.function([x], (T.tanh(x) * 3).sum())
    role, directory, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
    key = "a" * 64
    seen = {}
    # a reader starts reading once the first entry exists: the writers keep rewriting it meanwhile
    if role == "reader":
        import time
        # at most ~5 minutes: writers that never store fail the test, not hang it
        for _ in range(60000):
            if os.path.exists(fncache.entry_path(directory, key)):
                break
            time.sleep(0.005)
    for _ in range(rounds):
        if role == "writer":
            outcome = str(fncache.store(directory, key, fn))
            seen[outcome] = seen.get(outcome, 0) + 1
        else:
            loaded, reason = fncache.load(directory, key, 1)
            outcome = "hit" if loaded is not None else (reason or "absent")
            seen[outcome] = seen.get(outcome, 0) + 1
            if loaded is not None:
                assert loaded([0.5, 1.0]) == fn([0.5, 1.0])
    print("SEEN " + json.dumps(seen))
""")


def test_concurrent_writers_and_readers_only_ever_see_whole_entries(tmp_path):
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER_AND_READER, role, str(tmp_path), "40"],
            cwd=REPO,
            env=cli_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for role in ("writer", "writer", "reader", "reader")
    ]
    seen = []
    for proc in procs:
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err[-2000:]
        seen.append(json.loads(out.split("SEEN ", 1)[1]))
    writers, readers = seen[:2], seen[2:]
    assert all(set(w) == {"True"} for w in writers)
    for reader in readers:
        assert set(reader) <= {"hit", "absent"}, reader  # never truncated, corrupt or unloadable
    assert sum(r.get("hit", 0) for r in readers) > 0
    assert not list(tmp_path.glob(".tmp-*"))  # no temporary file left behind


DEEP = textwrap.dedent(r"""
    import sys
    from gradcheck_ci.platform import compat
    compat.prepare("float64")
    import theano.tensor as T
    from gradcheck_ci.platform import fncache
    x = T.dvector("x")
    y = x
    for i in range(12000):
        y = y + 1.0 if i % 2 else y * 1.0001
    limit = sys.getrecursionlimit()
    data = fncache._with_deep_stack(fncache.dumps, y)
    import pickle
    back = fncache._with_deep_stack(pickle.loads, data)
    print("OK", len(data) > 0, back.type == y.type, sys.getrecursionlimit() == limit)
""")


def test_a_graph_deeper_than_the_main_threads_stack_pickles_without_a_crash():
    # 12,000 nodes deep: pickle.dumps on the main thread's 8 MB stack dies with a segmentation fault
    # here
    proc = subprocess.run(
        [sys.executable, "-c", DEEP],
        cwd=REPO,
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "OK True True True" in proc.stdout


CUSTOM_OP = textwrap.dedent("""
    import theano
    import theano.tensor as T


    class Scale(theano.Op):
        __props__ = ()

        def make_node(self, x):
            x = T.as_tensor_variable(x)
            return theano.Apply(self, [x], [x.type()])

        def perform(self, node, inputs, outputs):
            outputs[0][0] = inputs[0] * FACTOR

        def grad(self, inputs, grads):
            return [grads[0] * FACTOR]


    FACTOR = 2.0
""")

USER_KEY = textwrap.dedent(r"""
    import sys
    sys.path.insert(0, sys.argv[1])
    from gradcheck_ci.platform import compat
    compat.prepare("float64")
    import theano.tensor as T
    from gradcheck_ci.platform import fncache
    from gradcheck_ci.platform import graphkey
    import userops
    x = T.dvector("x")
    print("KEY", graphkey.function_key([x], userops.Scale()(x).sum(), [], {}))
""")


def test_editing_a_custom_ops_source_changes_the_key(tmp_path):
    """perform() reads the module's FACTOR: the op's state and props say nothing of it, its source
    does."""
    module = tmp_path / "userops.py"

    def key() -> str:
        proc = subprocess.run(
            [sys.executable, "-c", USER_KEY, str(tmp_path)],
            cwd=REPO,
            env=cli_env(),
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert proc.returncode == 0, proc.stderr[-2000:]
        return proc.stdout.split("KEY ", 1)[1].strip()

    module.write_text(CUSTOM_OP)
    first, same = key(), key()
    module.write_text(CUSTOM_OP.replace("FACTOR = 2.0", "FACTOR = 3.0"))
    assert first == same
    assert key() != first


@pytest.mark.slow
def test_a_second_run_of_the_reported_network_loads_every_function_and_reports_the_same(tmp_path):
    """The check's functions and the diagnosis's (the ablation's, the layer-by-layer one) come from
    the function cache on the second run, and the report is the same but for the times and the
    evaluations: the second run replays the first one's lines without their retries and round-off
    measurement (engine/remembered.py), 12 evaluations fewer. Theano's own compile cache is the
    usual one (THEANO_FLAGS), so the first run only misses the function cache."""
    from gradcheck_ci.platform import cachedir

    environ = {k: v for k, v in os.environ.items() if k != cachedir.CACHE_DIR_ENV}
    flags = f"base_compiledir={cachedir.theano_cache_dir(environ)}"
    env = {"THEANO_FLAGS": ",".join(filter(None, [os.environ.get("THEANO_FLAGS"), flags]))}
    config = str(REPO / "examples" / "seed-rnn" / "gradcheck.yml")
    runs = [
        run_cli(
            "check",
            "--config",
            config,
            "--model",
            "seed-rnn-truncated",
            "--cache-dir",
            str(tmp_path / "cache"),
            env=env,
            json_path=tmp_path / f"{n}.json",
        )
        for n in (1, 2)
    ]
    first, second = (run.model("seed-rnn-truncated") for run in runs)
    assert runs[0].code == runs[1].code == 1, runs[1].output
    assert first["extra"]["compile"]["cache"] == "miss" and first["extra"]["compile"]["stored"] >= 2
    assert second["extra"]["compile"]["cache"] == "hit"
    assert second["extra"]["diagnosis_compile"]["cache"] == "hit"
    assert "compile" in runs[1].stdout and "loaded from the function cache" in runs[1].stdout
    for key in ("params", "diagnoses", "status", "loss_value"):
        assert _timeless(second[key]) == _timeless(first[key]), key
    assert "probes_replayed" not in first["extra"] and second["extra"]["probes_replayed"] is True
    assert second["evaluations"] <= first["evaluations"] - 12
    assert "probing the lines the last run of this unchanged check judged" in runs[1].output
    assert [p.get("summary") for p in second["extra"]["profiles"]] == [
        p.get("summary") for p in first["extra"]["profiles"]
    ]


def _timeless(value):
    """A report's value without the seconds things took and the evaluations they cost."""
    if isinstance(value, dict):
        return {
            k: _timeless(v) for k, v in value.items() if "seconds" not in k and k != "evaluations"
        }
    if isinstance(value, list):
        return [_timeless(v) for v in value]
    return value


def test_the_function_cache_is_off_when_asked(tmp_path):
    run = run_cli(
        "check",
        "--config",
        str(FIXTURES / "engine" / "gradcheck.yml"),
        "--model",
        "dense",
        "--cache-dir",
        str(tmp_path),
        env={"GRADCHECK_CI_NO_FUNCTION_CACHE": "1"},
        json_path=tmp_path / "report.json",
    )
    assert run.code == 0, run.output
    assert run.model("dense")["extra"]["compile"]["cache"] == "off"
    assert not list((tmp_path / "functions").glob("*/*.fn"))
