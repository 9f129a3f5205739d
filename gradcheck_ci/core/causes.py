"""The known causes of a gradient mismatch: one row each, in the order the diagnosis looks for them.

This table is the single source for what a cause is called and what it means. The diagnosis stage
(gradcheck_ci/diagnose/) runs the causes in this order, each by the module named after its code; the
SARIF report takes its rule text from here; docs/diagnosis.md's table of causes is checked against
`markdown_table()`. Plain data, no Theano and no numpy, so the report layer can read it.

Adding a cause: write `gradcheck_ci/diagnose/<code with "_" for "-">.py` with the interface of its
phase (see diagnose/__init__.py: `find(session)`, or `suspects(session)` and `describe(session,
suspect, outcome)` for a graph cause), add its row below, and paste `python -m
gradcheck_ci.core.causes` into docs/diagnosis.md.
"""

from __future__ import annotations

from dataclasses import dataclass

# When a cause is looked for, in run order. A phase after "always" runs only while a failing tensor
# is unexplained, and each cause in it only while one still is.
PHASES: dict[str, str] = {
    "always": "looked for on every model, failing or not: they say the check itself cannot be "
    "trusted",
    "non-finite": "failing tensors whose gradient is NaN/Inf; alone, when the loss itself is not "
    "finite",
    "graph": "seen in the graph; each suspect is ablated alone, and suspects that hide each other "
    "together",
    "float32": "float32 models only: the tensors still unexplained are checked again in float64",
    "general": "the rest, in order: causes that need no setting to blame",
}


@dataclass(frozen=True)
class Cause:
    code: str  # stable: JSON `diagnoses[].code`, SARIF rule id
    phase: str  # a key of PHASES
    title: str  # a few words (SARIF rule short description)
    means: str  # what it means (docs table; SARIF rule full description)
    found_by: str  # what finds it (docs table)
    confirmed_by: str  # the ablation that confirms it, "" when none applies (docs table)
    fix: str  # the usual fix (SARIF rule help); each diagnosis carries the fix for its own case

    @property
    def module(self) -> str:
        """The module of gradcheck_ci.diagnose that looks for this cause."""
        return self.code.replace("-", "_")


CAUSES: tuple[Cause, ...] = (
    Cause(
        "disconnected",
        "always",
        "Parameter gets no gradient from the loss",
        "a selected parameter gets no gradient from the loss and its finite differences are zero "
        "too, so its check means nothing: not in the graph of the loss, reaching it only through "
        "a piecewise constant op (argmax), or through a gradient stop the loss barely depends on",
        '`theano.grad(..., return_disconnected="None")`, then a walk from the parameter to the '
        "loss",
        "",
        "use the parameter in get_output_for (or create it with trainable=False), or leave it "
        "out of `params` if it is not meant to be trained",
    ),
    Cause(
        "stochastic-forward",
        "always",
        "Checked forward pass draws random numbers",
        "the checked forward pass draws random numbers (noise that ignores `deterministic=True`)",
        "random ops in the compiled loss; two identical evaluations that differ",
        "recompile with the random stream frozen",
        "make the layer honour deterministic=True (pass **kwargs on to get_output_for/get_output "
        "and do not force deterministic=False), or keep the noise out of the checked model",
    ),
    Cause(
        "nan-or-inf",
        "non-finite",
        "Loss or gradient is not finite",
        "the loss or a gradient is not finite",
        "the first layer whose output (or backward pass) is not finite, with the index and the "
        "input value there",
        "",
        "guard the operation whose value or derivative is infinite there (sqrt, log or division "
        "at 0: add a small epsilon or clip its argument)",
    ),
    Cause(
        "truncated-bptt",
        "graph",
        "Truncated backpropagation through time",
        "a recurrent layer backpropagates through its last k steps only (`gradient_steps=k`, "
        "scan `truncate_gradient`)",
        "the Scan nodes the layer introduced; cross-checked in the compiled gradient",
        "rebuild with `gradient_steps=-1`; a user's own `theano.scan`: the graph rebuilt with "
        "its scan set to `truncate_gradient=-1`",
        "set gradient_steps=-1, or mark the model `expect: fail` if truncation is intended",
    ),
    Cause(
        "gradient-clipping",
        "graph",
        "Layer clips its backward message",
        "a layer clips the gradient flowing back through it (`theano.gradient.grad_clip`: "
        "Lasagne's `grad_clipping` at every step of a recurrent layer, or the user's own call); "
        "`grad_clipping=0` clips to [0, 0] in Lasagne 0.1 and is off in Lasagne master",
        "`GradClip` ops among the nodes the layer built, its scans included, with the line that "
        "called grad_clip",
        "rebuild with `grad_clipping=False` (Lasagne's recurrent layers), else with the layer's "
        "grad_clip calls removed",
        "switch the clip off while checking (grad_clipping=False, or no grad_clip; clip the "
        "update instead, e.g. lasagne.updates.total_norm_constraint), or accept it with `allow: "
        "[gradient-clipping]` if clipping is intended",
    ),
    Cause(
        "gradient-stopped",
        "graph",
        "Layer stops the gradient",
        "a layer stops the gradient (`theano.gradient.disconnected_grad`, `zero_grad`, "
        "`consider_constant`) on a path the loss depends on, so the parameters before it get "
        "less gradient than the loss's derivative",
        "those ops among the nodes the layer built, fed by a checked parameter, with the line "
        "that called them",
        "rebuild with the layer's stops removed",
        "if the stop is intended (a baseline or target network trained by a loss of its own), "
        "accept it with `allow: [gradient-stopped]` or leave the parameters it cuts out of "
        "`params`; otherwise remove it",
    ),
    Cause(
        "low-precision",
        "float32",
        "Round-off in float32",
        "float32 round-off: the model's gradient is right (float64 agrees with finite "
        "differences), but float32 computes it more than 1e-2 off",
        "the float64 check that settles what float32 cannot, at the same point",
        "the same check in float64 at the same point passes",
        "check this model with `precision: float64` (the gradient is right), or loosen `rtol` "
        "for it; if training must run in float32, look for cancellation (large offsets, "
        "E[x^2]-E[x]^2, long sums)",
    ),
    Cause(
        "non-differentiable",
        "general",
        "Probe sits on a kink of the loss",
        "the probe sits on (or within one step of) a kink: rectifier at 0, `T.maximum` ties, "
        "max-pool ties; a kink is never a failure on its own, it leaves a tensor inconclusive",
        "step sizes: second differences scale like h, not h^2; the first layer whose output has "
        "the kink",
        "",
        "not a gradient bug: check with another `seed`, or avoid parameter values that put units "
        "exactly on a kink (zero-initialised weights before a rectifier or T.maximum, ties in "
        "max/pooling)",
    ),
    Cause(
        "wrong-backward",
        "general",
        "Wrong backward pass in a layer",
        "none of the above: one layer's backward pass is wrong",
        "layer-by-layer checks from the output (below)",
        "",
        "check the grad() of any hand-written Theano op or theano.gradient helper in this layer "
        "and the layers after it",
    ),
)

CODES: tuple[str, ...] = tuple(cause.code for cause in CAUSES)
# The causes a model may accept (`allow:`): those with an ablation, which proves that they explain
# the difference they are allowed for.
ALLOWABLE: tuple[str, ...] = tuple(cause.code for cause in CAUSES if cause.confirmed_by)
BY_CODE: dict[str, Cause] = {cause.code: cause for cause in CAUSES}


def in_phase(phase: str) -> list[Cause]:
    """The causes of one phase, in run order."""
    return [cause for cause in CAUSES if cause.phase == phase]


def markdown_table() -> str:
    """docs/diagnosis.md's table of causes."""
    lines = ["| code | what it means | found by | confirmed by |", "|---|---|---|---|"]
    lines += [
        f"| `{c.code}` | {c.means} | {c.found_by} | {c.confirmed_by or '-'} |" for c in CAUSES
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown_table())
