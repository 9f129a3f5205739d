"""Theano's C loop for scan, built for Python 3.11 (gradcheck_ci/platform/scan_loop.py): every scan
a check meets gives the same numbers, to the bit, in C as in Python, and a worker without C keeps
the Python loop."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

# Each graph compiled twice in one process, once with scan stepping in Python (the extension
# hidden, as Theano's fallback finds it) and once in C; their outputs (the loss, every gradient)
# compared bit for bit.
SAME_NUMBERS = textwrap.dedent("""
    import json, sys
    import numpy as np
    from gradcheck_ci.platform import compat, scan_loop
    compat.prepare(sys.argv[1])
    import theano, theano.tensor as T
    import lasagne
    from lasagne import layers as L

    built = sys.modules[scan_loop.EXTENSION]
    assert built is not None and built is scan_loop._loop, built
    floatX = theano.config.floatX
    rng = np.random.RandomState(3)

    def compiled(inputs, outputs, loop):
        sys.modules[scan_loop.EXTENSION] = built if loop == "c" else None
        try:
            # without the rewrite that breaks truncated scans (Theano issue 4652), as the check
            # compiles them
            mode = theano.compile.get_default_mode().excluding("scanOp_pushout_output")
            f = theano.function(inputs, outputs, mode=mode, on_unused_input="ignore")
        finally:
            sys.modules[scan_loop.EXTENSION] = built
        steppers = [getattr(t, "perform", None) for t in f.fn.thunks]
        names = {getattr(p, "__name__", "") for p in steppers if p is not None}
        # Python's loop is Scan.execute; the C one a closure around scan_perform.perform
        assert ("execute" in names) == (loop == "python"), (loop, names)
        return f

    def layered(make, masked=False, steps=7):
        x = T.tensor3("x")
        m = T.matrix("m")
        inp = L.InputLayer((3, steps, 4), x)
        mask = L.InputLayer((3, steps), m) if masked else None
        out = make(inp, mask)
        loss = T.sum(L.get_output(out) ** 2)
        params = L.get_all_params(out, trainable=True)
        data = [rng.randn(3, steps, 4).astype(floatX)]
        if masked:
            data.append((rng.rand(3, steps) > 0.3).astype(floatX))
        return [x, m] if masked else [x], [loss] + T.grad(loss, params + [x]), data

    def raw_scan(stops):
        # taps two back (mit_sot), an output per step (nit_sot), a sequence; with a stop condition,
        # forward only (Theano cannot differentiate a scan that stops early)
        x = T.vector("x")
        w = theano.shared(np.asarray(0.7, dtype=floatX), name="w")
        def step(s, a, b):
            new = T.tanh(w * a + 0.3 * b + s)
            if stops:
                return [new, new ** 2], theano.scan_module.until(T.abs_(new) > 0.9)
            return [new, new ** 2]
        init = T.zeros((2,), dtype=floatX)
        (hs, sq), _ = theano.scan(
            step, sequences=x, outputs_info=[dict(initial=init, taps=[-2, -1]), None])
        loss = T.sum(hs) + T.sum(sq)
        outputs = [loss, hs, sq] if stops else [loss] + T.grad(loss, [w, x])
        # rising inputs: the condition holds from step 12 of 20
        return [x], outputs, [np.linspace(-0.2, 1.5, 20).astype(floatX)]

    cases = {
        "rnn-truncated-clipped": layered(lambda i, m: L.RecurrentLayer(
            i, 5, gradient_steps=1, grad_clipping=0.5)),
        "rnn-masked-backwards": layered(lambda i, m: L.RecurrentLayer(
            i, 5, mask_input=m, backwards=True), masked=True),
        "lstm-backwards": layered(lambda i, m: L.LSTMLayer(
            i, 6, peepholes=False, backwards=True)),
        "lstm-masked-truncated": layered(lambda i, m: L.LSTMLayer(
            i, 6, mask_input=m, gradient_steps=3), masked=True),
        "gru-masked": layered(lambda i, m: L.GRULayer(i, 4, mask_input=m), masked=True),
        "raw-scan": raw_scan(stops=False),
        "raw-scan-until": raw_scan(stops=True),
    }
    same = {}
    for name, (inputs, outputs, data) in cases.items():
        python = compiled(inputs, outputs, "python")(*data)
        c = compiled(inputs, outputs, "c")(*data)
        if name == "raw-scan-until":
            assert len(python[1]) == 12, python[1]  # it stopped early
        same[name] = all(
            np.asarray(a).shape == np.asarray(b).shape
            and np.asarray(a).tobytes() == np.asarray(b).tobytes()
            for a, b in zip(python, c)
        ) and len(python) == len(c)
    print(json.dumps(same))
""")


@pytest.mark.parametrize("precision", ["float64", "float32"])
def test_scans_give_the_same_numbers_stepping_in_c_as_in_python(precision: str) -> None:
    env = dict(os.environ)
    env.pop("THEANO_FLAGS", None)
    out = subprocess.run(
        [sys.executable, "-c", SAME_NUMBERS, precision],
        capture_output=True,
        text=True,
        timeout=1200,
        env=env,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    same = json.loads(out.stdout.strip().splitlines()[-1])
    assert len(same) == 7 and all(same.values()), same


def test_a_worker_without_c_keeps_the_python_loop() -> None:
    """Where Theano compiles no C (its `cxx` empty, as a first run without C has it), nothing is
    built: scans step in Python, and no compiler is asked."""
    code = textwrap.dedent("""
        import sys
        from gradcheck_ci.platform import compat, scan_loop
        compat.prepare("float64")
        print(repr(sys.modules[scan_loop.EXTENSION]))
    """)
    env = dict(os.environ, THEANO_FLAGS="cxx=")
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=600, env=env
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip().splitlines()[-1] == "None"


def test_two_workers_starting_at_once_on_an_empty_compile_directory_both_step_in_c(
    tmp_path,
) -> None:
    """The loop is built aside and moved in whole (no lock): two processes building it at the same
    time into one empty compile directory each end with a loop that steps a scan, and one
    library."""
    code = textwrap.dedent("""
        import sys
        import numpy as np
        from gradcheck_ci.platform import compat, scan_loop
        compat.prepare("float64")
        import theano, theano.tensor as T
        assert sys.modules[scan_loop.EXTENSION] is scan_loop._loop is not None
        x = T.vector()
        ys, _ = theano.scan(lambda a, h: T.tanh(a + h), sequences=x, outputs_info=T.zeros(()))
        print(float(theano.function([x], ys[-1])(np.linspace(0.0, 1.0, 50))))
    """)
    env = dict(os.environ, THEANO_FLAGS=f"base_compiledir={tmp_path}")
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", code],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(2)
    ]
    outputs = [worker.communicate(timeout=1200) for worker in workers]
    assert [worker.returncode for worker in workers] == [0, 0], [err[-3000:] for _, err in outputs]
    assert len({out.strip().splitlines()[-1] for out, _ in outputs}) == 1
    libraries = list(tmp_path.glob("compiledir_*/gradcheck-ci-scan-*/*.so"))
    leftovers = list(tmp_path.glob("compiledir_*/gradcheck-ci-scan-*/tmp*"))
    assert len(libraries) == 1 and not leftovers, (libraries, leftovers)
