"""A class's method or attribute named as the factory (model/member.py), and the sizes `init`
proposes for a builder's required arguments (init/sizes.py)."""

from __future__ import annotations

import ast
import inspect
import textwrap

import pytest

from gradcheck_ci.init.discover import LAYER_ARGUMENTS, Candidate
from gradcheck_ci.init.sizes import propose_kwargs, use_as_size
from gradcheck_ci.model.member import member_factory
from gradcheck_ci.usercode.importer import Member


class Builder:
    def __init__(self, input_dim, output_dim=2):
        self.input_dim, self.output_dim = input_dim, output_dim
        self.network = ("net", input_dim, output_dim)

    def build(self, **kwargs):
        return ("built", self.input_dim, self.output_dim, kwargs)

    def wide(self, width=8):
        return ("wide", self.input_dim, width)

    @classmethod
    def make(cls, n_classes):
        return ("made", n_classes)

    @staticmethod
    def plain(size, depth=1):
        return ("plain", size, depth)


def test_a_method_gets_the_constructors_arguments_and_its_own():
    build = member_factory(Member(Builder, "build"))
    assert build(input_dim=3, num_units=5) == (
        "built",
        3,
        2,
        {"num_units": 5},
    )  # **kwargs takes the rest
    wide = member_factory(Member(Builder, "wide"))
    assert str(inspect.signature(wide)) == "(*, input_dim, width=8, output_dim=2)"
    assert wide(input_dim=4, width=6) == ("wide", 4, 6)
    with pytest.raises(TypeError):
        inspect.signature(wide).bind(
            input_dim=1, widht=2
        )  # checked before the call: a kwargs error in the config


def test_an_attribute_set_in_init_and_class_and_static_methods():
    assert member_factory(Member(Builder, "network"))(input_dim=5) == ("net", 5, 2)
    assert member_factory(Member(Builder, "make"))(n_classes=3) == ("made", 3)
    plain = member_factory(Member(Builder, "plain"))
    assert (
        str(inspect.signature(plain)) == "(*, size, depth=1)"
    )  # no constructor arguments for a staticmethod
    assert plain(size=2) == ("plain", 2, 1)


def _sizes(code: str, function: str, required: list[str], kind: str = "function") -> Candidate:
    tree = ast.parse(textwrap.dedent(code))
    candidate = Candidate("model.py", function, 1, "layer", "", required, kind=kind)
    propose_kwargs([candidate], {"model.py": tree}, LAYER_ARGUMENTS)
    return candidate


def test_sizes_come_from_the_layers_that_use_them_or_a_literal_call():
    candidate = _sizes(
        """
        def build(input_dim, n_classes, depth, input_var, image_side, weights_file):
            l = InputLayer((None, 3, image_side, image_side), input_var=input_var)
            l = InputLayer((None, input_dim))
            for _ in range(depth):
                l = DenseLayer(l, num_units=n_classes * 2)
            W = np.load(weights_file)
            return l

        network = build(X.shape[1], 10, 2, None, 12, 'w.npz')
        """,
        "build",
        ["input_dim", "n_classes", "depth", "input_var", "image_side", "weights_file"],
    )
    assert candidate.kwargs == {
        "input_dim": 4,
        "n_classes": 10,
        "depth": 2,
        "input_var": None,
        "image_side": 12,
        "weights_file": "w.npz",
    }
    assert candidate.reasons["input_dim"] == "a small size for InputLayer's shape (line 4)"
    assert candidate.reasons["n_classes"] == "as model.py:10 calls it"


def test_a_config_object_gets_a_placeholder_and_the_line_that_uses_it():
    candidate = _sizes(
        """
        def create_network(config, BATCH_SIZE):
            input_dim = config['input_dim']
            return InputLayer(shape=(BATCH_SIZE, input_dim))
        """,
        "create_network",
        ["config", "BATCH_SIZE"],
    )
    assert candidate.placeholders == ["config"] and candidate.kwargs == {"BATCH_SIZE": 4}
    # what it reads of the object: a mapping with those keys is what to write
    assert candidate.fields == {"config": ["input_dim"]}
    assert candidate.reasons["config"] == (
        "an object it reads input_dim of (an argparse Namespace, a config): give them as a "
        "mapping, which the factory gets as an object with those attributes"
    )


def test_a_constructors_size_reaches_the_method_through_self():
    body = ast.parse(
        textwrap.dedent("""
        def __init__(self, n_in):
            self.n_in = n_in
        def build(self):
            return DenseLayer(InputLayer((None, self.n_in)), 2)
        """)
    )
    assert use_as_size([body], "n_in") == (4, "InputLayer's shape (line 5)")
