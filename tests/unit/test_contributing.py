"""CONTRIBUTING.md shows each extension point with a real row from the tree: the rows it quotes must exist."""
from __future__ import annotations

import re

from tests import REPO


def quoted_rows() -> list[str]:
    text = (REPO / "CONTRIBUTING.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    return [" ".join(block.split()) for block in blocks]


def test_every_quoted_row_is_in_the_code():
    rows = quoted_rows()
    assert len(rows) >= 3
    source = " ".join(" ".join(path.read_text(encoding="utf-8").split())
                      for path in (REPO / "gradcheck_ci").rglob("*.py"))
    missing = [row for row in rows if row not in source]
    assert missing == [], "CONTRIBUTING.md quotes rows that the code no longer has"
