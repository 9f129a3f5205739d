"""The model under check: import the factory gradcheck.yml names (factory.py), call it (call.py),
choose the output layer among what it returned (returned.py), describe the graph (describe.py) and
shape its inputs under `data:` (shapes.py), into one BuiltModel record that the rest of the check
reads.

The steps keep the order of the errors a broken model gets; the work is in those modules and the
order here, so a spec followed through the build enters each module at most twice. Runs inside a
worker process after `compat.prepare()`. Errors are raised as `ModelLoadError` carrying the file and
line to blame: the user's code for things their code did, gradcheck.yml for things the config did.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from ..config import ModelSpec
from ..core import steps
from ..core.errors import ModelLoadError
from ..core.results import Notice
from ..platform import lasagne_stacks
from ..usercode import loader, python2
from ..usercode.deferred import DeferredCompile, deferred_notice, deferring_theano_functions
from ..usercode.float_indices import casting_float_indices
from ..usercode.held import Held, holding_settings
from ..usercode.sites import recording_call_sites
from .built import BuiltModel
from .call import call_factory, make_factory_inputs, seed_everything
from .describe import (
    describe_inputs,
    describe_params,
    integer_params,
    layer_labels,
    select_params,
)
from .factory import held_notices, load_factory
from .returned import output_layer, refuse_training_script
from .shapes import shape_inputs


def build_model(
    spec: ModelSpec,
    root: str,
    config_file: str,
    progress: Callable[[str], None] = lambda message: None,
) -> BuiltModel:
    import lasagne

    root = os.path.realpath(root)
    progress(steps.IMPORTING)
    # the sites are recorded from the import on: a script builds its network while it is imported
    with factory_run(spec, root) as run, recording_call_sites(root) as sites:
        factory = load_factory(spec, root, config_file)
        notices = python2.notices(root) + loader.notices(root)
        refuse_training_script(factory, spec, config_file)
        seed_everything(spec.seed)
        progress(steps.CALLING_FACTORY)
        made = make_factory_inputs(spec, config_file, sites)
        value, return_line = call_factory(factory, spec, root, config_file, made)
    output = output_layer(value, spec, factory, root, config_file, return_line, sites)
    notices += held_notices(run.held, factory, spec)
    notices.extend(filter(None, [repository_lasagne_notice(root, lasagne.__file__)]))
    notices.extend(filter(None, [deferred_notice(run.deferred)]))
    layers = lasagne.layers.get_all_layers(output)
    labels = layer_labels(layers)
    masks = {id(made[name]) for name, given in spec.inputs.items() if given.mask}
    inputs = describe_inputs(layers, labels, sites, masks)
    unused = [name for name in made if not any(info.layer is made[name] for info in inputs)]
    if unused:
        raise ModelLoadError(
            f"the InputLayer made for `inputs: {unused[0]}` does not reach the "
            f"output layer {labels[id(output)]}: the factory did not use its "
            f"argument {unused[0]!r}",
            config_file,
            spec.key_lines.get(f"inputs.{unused[0]}", spec.line),
            kind="config",
        )
    all_params, integer_notices = integer_params(describe_params(layers, labels, sites))
    notices += integer_notices
    if not all_params:
        output_site = sites.get(id(output))
        file, line = (
            (output_site.file, output_site.line)
            if output_site
            else factory.site_or(config_file, spec.line)
        )
        raise ModelLoadError(
            f"model {spec.name!r} has no trainable parameters: nothing to check "
            f"(the layers {', '.join(labels[id(layer)] for layer in layers[:8])} "
            f"have none, or all are fixed "
            "with trainable=False)",
            file,
            line,
        )
    shaped = shape_inputs(inputs, layers, spec, config_file)
    params = select_params(all_params, spec, config_file)
    # `/` kept as Python 2's, met while building
    notices += [n for n in python2.notices(root) if n not in notices]
    return BuiltModel(
        output,
        layers,
        labels,
        sites,
        inputs,
        params,
        all_params,
        notices + shaped.notices,
        shaped.shapes,
        shaped.summary,
    )


def repository_lasagne_notice(root: str, imported: str) -> Notice | None:
    """The repository's own copy of Lasagne is not what the check builds the model with: the
    stack's Lasagne is (the label every report shows)."""
    copy = lasagne_stacks.repository_copy(root, imported)
    if copy is None:
        return None
    stack = lasagne_stacks.label(lasagne_stacks.current())
    return Notice(
        f"the repository holds a Lasagne package of its own ({copy}); the check builds the "
        f"model with {stack}, the stack `lasagne:` chooses, not with that copy (a layer only the "
        "copy has is then an error)",
        "repository-lasagne",
        copy,
        1,
    )


@dataclass
class FactoryRun:
    """What the factory's module and the factory did to the process while they ran (factory_run)."""

    deferred: list[DeferredCompile]  # their theano.function calls
    held: Held  # the settings they changed, held


@contextmanager
def factory_run(spec: ModelSpec, root: str) -> Iterator[FactoryRun]:
    """What the factory's module is imported and the factory called under, by `check` and by
    `init`'s trials alike: the model's seed (a script's network is built while its module is
    imported), no command-line arguments (a script that reads its own sees none, not the worker's),
    the module's own theano.function calls compiled only if something calls them, the Theano
    settings that would change the check (floatX, ...) and the recursion limit held
    (usercode/held.py), and float indices of an EmbeddingLayer cast (usercode/float_indices.py)."""
    seed_everything(spec.seed)
    sys.argv = [spec.factory.rpartition(":")[0]]
    with (
        deferring_theano_functions(root) as deferred,
        holding_settings(root) as held,
        casting_float_indices(),
    ):
        yield FactoryRun(deferred, held)
