"""CONTRIBUTING.md shows each extension point with a real row from the tree: the rows it quotes must
exist."""

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
    source = " ".join(
        " ".join(path.read_text(encoding="utf-8").split())
        for path in (REPO / "gradcheck_ci").rglob("*.py")
    )
    missing = [row for row in rows if row not in source]
    assert missing == [], "CONTRIBUTING.md quotes rows that the code no longer has"


def table_folders() -> list[str]:
    """The layer table's folders, bottom to top, as gradcheck_ci/__init__.py lists them."""
    from tests.unit.test_layers import layer_table

    table = layer_table()
    folders = [unit for unit in table if (REPO / "gradcheck_ci" / unit / "__init__.py").is_file()]
    return sorted(folders, key=lambda unit: table[unit])


def test_contributing_lists_the_layer_folders_in_the_tables_order():
    text = (REPO / "CONTRIBUTING.md").read_text(encoding="utf-8")
    section = text[text.index("## The layer rule") : text.index("## Two Pythons")]
    assert re.findall(r"\b([a-z]+)/", section.split("entrypoint/")[0]) == table_folders()


def test_readme_layout_lists_the_layer_folders_in_the_tables_order():
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text[text.index("    gradcheck_ci/   in layers") : text.index("    examples/ ")]
    listed = re.findall(r"^\s{20}([a-z]+)/\s", section, flags=re.M)
    assert listed == table_folders()
