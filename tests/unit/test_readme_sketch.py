"""README's gradcheck.yml sketch must be a config the reader accepts, with the keys for factories as
real repositories write them."""

from __future__ import annotations

import re

from gradcheck_ci.config import load_config
from tests import REPO


def test_the_readme_sketch_is_a_valid_config(tmp_path):
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("### gradcheck.yml") :]
    sketch = re.search(r"```yaml\n(.*?)```", section, flags=re.S).group(1)
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "rnn.py").write_text("def build_model():\n    pass\n")
    (tmp_path / "gradcheck.yml").write_text(sketch)
    config = load_config(str(tmp_path / "gradcheck.yml"))
    assert config.problems == []
    [model] = config.models
    assert (
        model.inputs["mask"].mask
        and model.output == "l_out"
        and model.data.inputs["item_ids"].high == 500
    )
