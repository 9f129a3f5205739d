"""A Lasagne name imported inside a `try:` that catches its ImportError, which Lasagne 0.1 lacks:
the network checked is the code's fallback, and a notice says so (usercode/fallbacks.py)."""

from __future__ import annotations

import sys
import types

from gradcheck_ci.platform import lasagne_stacks
from gradcheck_ci.usercode.fallbacks import fallback_notices

NET = """from lasagne.layers import DenseLayer
try:
    from lasagne.layers import batch_norm, DenseLayer as Dense
except (ImportError, AttributeError):  # Lasagne 0.1
    batch_norm = lambda layer: layer
try:
    from lasagne.layers.dnn import Conv2DDNNLayer  # no GPU here: the module itself is missing
except ImportError:
    Conv2DDNNLayer = None
try:
    from lasagne.layers import DenseLayer as D2  # 0.1 has it: no fallback taken
except ImportError:
    D2 = None
"""


def test_a_fallback_import_of_a_name_lasagne_01_lacks_is_a_notice_at_its_line(
    tmp_path, monkeypatch
):
    layers = types.ModuleType("lasagne.layers")
    layers.DenseLayer = object
    monkeypatch.setitem(sys.modules, "lasagne", types.ModuleType("lasagne"))
    monkeypatch.setitem(sys.modules, "lasagne.layers", layers)
    monkeypatch.delitem(sys.modules, "lasagne.layers.dnn", raising=False)
    (tmp_path / "models").mkdir()
    net = tmp_path / "models" / "net.py"
    net.write_text(NET)
    module = types.ModuleType("fallback_net_for_test")
    module.__file__ = str(net)
    monkeypatch.setitem(sys.modules, module.__name__, module)
    monkeypatch.setattr(lasagne_stacks, "current", lambda environ=None: lasagne_stacks.RELEASE)
    [notice] = fallback_notices(str(tmp_path))
    assert (notice.code, notice.file, notice.line) == ("lasagne-fallback", "models/net.py", 3)
    assert notice.message.startswith(
        "the code imports batch_norm from lasagne.layers inside a `try:` that catches the "
        "ImportError, and Lasagne 0.1 lacks it: the network checked is the code's fallback"
    )
    # on master the names are there, or the code is checked as written: nothing to say
    monkeypatch.setattr(lasagne_stacks, "current", lambda environ=None: "master")
    assert fallback_notices(str(tmp_path)) == []
