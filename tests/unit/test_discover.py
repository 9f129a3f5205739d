"""`init`'s first step: the factories found by reading the source, as real Lasagne code writes
them."""

from __future__ import annotations

import textwrap

from gradcheck_ci.init.discover import discover, python_files


def write(root, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")


def found(root):
    result = discover(str(root))
    return {c.function: c for c in result.candidates}, {p.what: p for p in result.passed}


def test_the_shapes_real_factories_take(tmp_path):
    write(
        tmp_path,
        {
            "models/nets.py": """
        import lasagne
        from lasagne.layers import DenseLayer, InputLayer
        import lasagne.layers as L


        def build_mlp(input_var=None, num_units=32, nonlinearity=lasagne.nonlinearities.tanh):
            network = InputLayer((None, 784), input_var=input_var)
            for _ in range(2):
                network = DenseLayer(network, num_units, nonlinearity=nonlinearity)
            return network


        def build_model():
            l_in = L.InputLayer((None, None, 3))
            l_out = L.DenseLayer(l_in, 2)
            return l_in, l_out


        def build_dict():
            net = {}
            net['input'] = InputLayer((None, 3))
            net['out'] = DenseLayer(net['input'], 2)
            return net


        def literal_dict():
            l_in = InputLayer((None, 3))
            return {'in': l_in, 'out': DenseLayer(l_in, 2)}


        def wrapper():
            return build_model()[1]


        def dropped(p=0.5):
            return lasagne.layers.dropout(build_mlp(), p=p)


        def bn():
            return L.batch_norm(DenseLayer(InputLayer((None, 3)), 4)) if True else None
        """
        },
    )
    candidates, passed = found(tmp_path)
    assert {name: c.returns for name, c in candidates.items()} == {
        "build_mlp": "layer",
        "build_model": "tuple",
        "build_dict": "dict",
        "literal_dict": "dict",
        "wrapper": "layer",
        "dropped": "layer",
        "bn": "layer",
    }
    mlp = candidates["build_mlp"]
    assert (mlp.file, mlp.line, mlp.required) == ("models/nets.py", 7, [])
    # input_var=None and a nonlinearity are no settings to show
    assert mlp.literal_defaults == {"num_units": 32}
    assert mlp.signature == "input_var=None, num_units=32, nonlinearity=lasagne.nonlinearities.tanh"
    assert mlp.why_not_tried is None and passed == {}


def test_builders_that_need_arguments_are_found_but_not_tried(tmp_path):
    write(
        tmp_path,
        {
            "blocks.py": """
        from lasagne.layers import ConcatLayer, LSTMLayer, InputLayer, DenseLayer

        def build_bilstm(incoming, num_units, mask=None):
            f = LSTMLayer(incoming, num_units, mask_input=mask)
            return ConcatLayer([f, LSTMLayer(incoming, num_units, backwards=True)], axis=2)

        def build_sized(num_units, *, depth):
            return DenseLayer(InputLayer((None, 2)), num_units)
        """
        },
    )
    candidates, _ = found(tmp_path)
    assert candidates["build_bilstm"].required == ["incoming", "num_units"]
    assert "takes the layer it builds on (incoming)" in candidates["build_bilstm"].why_not_tried
    assert candidates["build_sized"].required == ["num_units", "depth"]
    # a layer size: sizes.py proposes a small one
    assert candidates["build_sized"].kwargs == {"num_units": 5}
    assert candidates["build_sized"].placeholders == ["depth"]
    assert candidates["build_sized"].why_not_tried == (
        "needs arguments gradcheck-ci cannot choose (depth): give them under `kwargs` (the "
        "commented entry below proposes the others)"
    )


def test_what_is_not_a_factory(tmp_path):
    write(
        tmp_path,
        {
            "train.py": """
        import theano
        import lasagne
        from lasagne.layers import DenseLayer, InputLayer

        def _helper():
            return DenseLayer(InputLayer((None, 2)), 2)

        class Model(object):
            def build(self):
                return DenseLayer(InputLayer((None, 2)), 2)

        def compile_fns(network):
            prediction = lasagne.layers.get_output(network)
            return theano.function([], prediction)

        def main():
            network = DenseLayer(InputLayer((None, 2)), 2)
            params = lasagne.layers.get_all_params(network)
            print(len(params))

        def nested():
            def inner():
                return DenseLayer(InputLayer((None, 2)), 2)
            return inner
        """
        },
    )
    candidates, passed = found(tmp_path)
    # a class's method is a factory (`factory: train.py:Model.build`)
    assert set(candidates) == {"Model.build"}
    assert set(passed) == {"main()", "nested()"}  # both build layers and return none
    assert "returns none of them" in passed["main()"].reason and passed["main()"].line == 17


def test_python2_files_are_read_through_their_translation(tmp_path):
    write(
        tmp_path,
        {
            "old.py": "import lasagne\n\ndef build():\n    print 'x'\n"
            "    return "
            "lasagne.layers.DenseLayer(lasagne.layers.InputLayer((None, 2)), "
            "2)\n",
            "loader.py": "import lasagne\nfor i in xrange(2):\n    print i\n",
            "unrelated.py": "print 'no models here'\n",
        },
    )
    candidates, passed = found(tmp_path)
    assert set(candidates) == {"build"} and candidates["build"].python2 is True
    assert passed == {}


def test_python2_files_2to3_cannot_translate_are_named_with_the_line(tmp_path):
    write(tmp_path, {"old.py": "import lasagne\n\ndef load(path, async=False):\n    print 'x'\n"})
    _, passed = found(tmp_path)
    assert passed["old.py"].line == 3
    assert passed["old.py"].reason == (
        "is Python 2 and 2to3 cannot translate it (line 3: its "
        "translation does not compile: `async` is a keyword in "
        "Python 3: rename it); gradcheck-ci runs Python 3.11"
    )


def test_a_python3_file_with_a_syntax_error_is_not_called_python2(tmp_path):
    write(
        tmp_path,
        {
            "broken.py": "import lasagne\n\ndef build(n=4):\n"
            "    l_in = lasagne.layers.InputLayer((None, n)\n"
            "    return lasagne.layers.DenseLayer(l_in, 2)\n"
        },
    )
    _, passed = found(tmp_path)
    assert (passed["broken.py"].line, passed["broken.py"].reason) == (
        4,
        "does not compile: '(' was never closed (line 4)",
    )


def test_tooling_tests_and_environments_are_not_searched(tmp_path):
    model = (
        "from lasagne.layers import DenseLayer, InputLayer\n"
        "def build():\n    return DenseLayer(InputLayer((None, 2)), 2)\n"
    )
    write(
        tmp_path,
        {
            "models/a.py": model,
            "tests/test_a.py": model,
            "test_b.py": model,
            "b_test.py": model,
            ".hidden/c.py": model,
            "venv/lib/d.py": model,
            "myenv/pyvenv.cfg": "",
            "myenv/e.py": model,
            "setup.py": model,
            "conftest.py": model,
            "pkg/__pycache__/f.py": model,
        },
    )
    assert python_files(str(tmp_path)) == ["models/a.py"]
    candidates, _ = found(tmp_path)
    assert [c.reference for c in candidates.values()] == ["models/a.py:build"]


def test_a_script_that_calls_a_builder_gives_its_literals_though_it_builds_no_layer(tmp_path):
    write(
        tmp_path,
        {
            "nets/deep.py": "import lasagne\n\n"
            "def build_deep(n_features, depth, n_classes):\n"
            "    l = lasagne.layers.InputLayer((None, n_features))\n"
            "    for _ in range(depth):\n"
            "        l = lasagne.layers.DenseLayer(l, 8)\n"
            "    return lasagne.layers.DenseLayer(l, n_classes)\n",
            # no 'lasagne' in it: it only calls the builder
            "scripts/run_deep.py": "from nets.deep import build_deep\n\nnet = build_deep(12, 3, "
            "5)\n",
        },
    )
    candidates, _ = found(tmp_path)
    deep = candidates["build_deep"]
    assert deep.kwargs == {"n_features": 12, "depth": 3, "n_classes": 5}
    assert deep.reasons["depth"] == "as scripts/run_deep.py:3 calls it"


def test_a_methods_signature_is_written_without_self_or_cls(tmp_path):
    write(
        tmp_path,
        {
            "net.py": """
        from lasagne.layers import DenseLayer, InputLayer

        class Net(object):
            def __init__(self, n_in, n_hidden=8):
                self.l_in = InputLayer((None, n_in))
                self.l_out = DenseLayer(self.l_in, n_hidden)

            @classmethod
            def small(cls, n_in=4):
                return DenseLayer(InputLayer((None, n_in)), 2)
        """
        },
    )
    candidates, _ = found(tmp_path)
    signatures = {name: c.signature for name, c in candidates.items()}
    assert signatures["Net.l_out"] == "n_in, n_hidden=8"
    assert signatures["Net.small"] == "n_in=4"


def test_building_blocks_return_their_layers_in_tuples_dicts_and_comprehensions(tmp_path):
    """Recipes-style blocks: they take the layer they build on and return (dict of layers, name of
    the last) or a comprehension of a dict; they are building blocks of the model, not trainers."""
    write(
        tmp_path,
        {
            "zoo/resnet.py": """
        from lasagne.layers import (InputLayer, Conv2DLayer as ConvLayer, BatchNormLayer,
                                    ConcatLayer, ElemwiseSumLayer, GlobalPoolLayer, DenseLayer)
        from lasagne.nonlinearities import softmax


        def build_simple_block(incoming_layer, names, num_filters, filter_size, stride, pad):
            net = []
            net.append((names[0], ConvLayer(incoming_layer, num_filters, filter_size, stride, pad,
                                            flip_filters=False, nonlinearity=None)))
            net.append((names[1], BatchNormLayer(net[-1][1])))
            return dict(net), net[-1][0]


        def build_residual_block(incoming_layer, prefix=''):
            net = {}
            n_out = incoming_layer.output_shape[1]
            names = ['res%s_a' % prefix, 'bn%s_a' % prefix]
            net_tmp, last = build_simple_block(incoming_layer, names, n_out, 3, 1, 1)
            net.update(net_tmp)
            net['res%s' % prefix] = ElemwiseSumLayer([incoming_layer, net[last]])
            return net, 'res%s' % prefix


        def inception_module(l, nfilters):
            net = {}
            net['1x1'] = ConvLayer(l, nfilters[0], 1, flip_filters=False)
            net['3x3'] = ConvLayer(l, nfilters[1], 3, pad=1, flip_filters=False)
            net['output'] = ConcatLayer([net['1x1'], net['3x3']])
            return {'{}/{}'.format('inc', k): v for k, v in net.items()}


        def build_model():
            net = {}
            net['input'] = InputLayer((None, 2, 8, 8))
            sub_net, parent = build_residual_block(net['input'], '2a')
            net.update(sub_net)
            net.update(inception_module(net[parent], [2, 3]))
            net['pool'] = GlobalPoolLayer(net['inc/output'])
            net['prob'] = DenseLayer(net['pool'], num_units=3, nonlinearity=softmax)
            return net
        """
        },
    )
    candidates, passed = found(tmp_path)
    assert passed == {}  # none of them "returns none of them"
    assert {name: c.returns for name, c in candidates.items()} == {
        "build_simple_block": "tuple",
        "build_residual_block": "tuple",
        "inception_module": "dict",
        "build_model": "dict",
    }
    assert {name: c.layer_arguments for name, c in candidates.items()} == {
        "build_simple_block": ["incoming_layer"],
        "build_residual_block": ["incoming_layer"],
        "inception_module": ["l"],
        "build_model": [],
    }
    assert candidates["build_model"].why_not_tried is None
    assert candidates["build_simple_block"].why_not_tried.startswith(
        "takes the layer it builds on (incoming_layer), a building block that "
        "build_residual_block() calls: name it with `inputs:` to have gradcheck-ci make it"
    )
    assert candidates["inception_module"].why_not_tried.startswith(
        "takes the layer it builds on (l), a building block that build_model() calls:"
    )
    # the layer is not a value to choose: no placeholder for it
    assert "l" not in candidates["inception_module"].placeholders


def test_a_helper_that_takes_a_layer_of_any_name_is_not_asked_for_it_as_a_value(tmp_path):
    write(
        tmp_path,
        {
            "utils.py": """
        import lasagne


        def dense_stack(l, sizes, nonlin=lasagne.nonlinearities.tanh):
            for i in range(len(sizes)):
                l = lasagne.layers.DenseLayer(l, sizes[i], nonlinearity=nonlin)
            return l


        def with_head(x, n_classes):
            top = x
            return lasagne.layers.DenseLayer(dense_stack(top, [8]), n_classes)


        def build_mlp(n_in):
            return dense_stack(lasagne.layers.InputLayer((None, n_in)), [8, 8])
        """
        },
    )
    candidates, _ = found(tmp_path)
    assert candidates["dense_stack"].layer_arguments == ["l"]
    assert candidates["dense_stack"].placeholders == ["sizes"]
    assert "l" not in candidates["dense_stack"].reasons  # no "not a layer size" comment for it
    assert candidates["dense_stack"].why_not_tried.startswith(
        "takes the layer it builds on (l), a building block that with_head() and build_mlp() call:"
    )
    # through an alias and into the helper's layer argument
    assert candidates["with_head"].layer_arguments == ["x"]
    # an InputLayer's shape is not a layer: n_in is a size
    assert candidates["build_mlp"].layer_arguments == []
    assert candidates["build_mlp"].why_not_tried is None


def test_a_main_block_that_only_calls_a_found_builder_gets_no_advice_to_move_it(tmp_path):
    write(
        tmp_path,
        {
            "train.py": """
        import lasagne


        def build(input_var=None):
            l_in = lasagne.layers.InputLayer((None, 6), input_var=input_var)
            return lasagne.layers.DenseLayer(l_in, 2)


        if __name__ == '__main__':
            net = build()
            print('built', net)
        """,
            "train_head.py": """
        import lasagne
        from train import build


        def build_body(input_var=None):
            return lasagne.layers.InputLayer((None, 6), input_var=input_var)


        if __name__ == '__main__':
            net = lasagne.layers.DenseLayer(build_body(), 3)
        """,
        },
    )
    candidates, passed = found(tmp_path)
    assert "build" in candidates
    # the network under the guard is build()'s, which init proposes: nothing to move
    assert "train.py" not in passed
    # a layer built under the guard on top of the builder's: that network is only built there
    assert passed["train_head.py"].line == 10
    assert "builds its network under `if __name__ == '__main__':`" in passed["train_head.py"].reason
