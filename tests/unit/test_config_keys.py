"""The key table (gradcheck_ci/config/keys.py) is the one list of gradcheck.yml's keys: ModelSpec's
and DataSpec's defaults, docs/config.md's key tables and the readers all agree with it."""

from __future__ import annotations

import dataclasses
import json

import pytest
import yaml

from gradcheck_ci.config import KEYS, ModelSpec, load_config
from gradcheck_ci.config.keys import (
    BY_PATH,
    MODEL,
    NAMED,
    REQUIRED,
    SECTION,
    SHARED,
    TOP,
    Key,
    keys_in,
)
from tests import REPO

DOC = REPO / "docs" / "config.md"
MODEL_SCOPES = (MODEL, SHARED)
SECTIONS = [row for row in KEYS if row.kind in (SECTION, NAMED)]  # rows with keys scoped to them
NOT_FIELDS = ("line", "key_lines")  # ModelSpec fields the reader fills, not keys


# ------------------------------------------------------------------------------------ the table


def test_each_key_is_in_the_table_once():
    assert len(BY_PATH) == len(KEYS)
    assert len({(row.scope, row.name) for row in KEYS}) == len(KEYS)


@pytest.mark.parametrize("row", KEYS, ids=lambda row: row.path)
def test_every_row_is_complete(row: Key):
    assert row.scope in (TOP, MODEL, SHARED) or row.scope in {section.path for section in SECTIONS}
    assert row.doc and "\n" not in row.doc and row.doc.endswith("."), row.doc
    # TOP keys are read by the reader's own steps, a SECTION through its rows; every other key has a
    # reader
    assert (row.read is None) == (row.scope == TOP or row.kind == SECTION)
    if row.kind in (SECTION, NAMED):
        assert dataclasses.is_dataclass(row.default) and keys_in(row.path)


def _dataclasses() -> list[tuple[type, tuple[str, ...]]]:
    """(dataclass, the scopes of its keys): ModelSpec and the dataclass of every section."""
    return [(ModelSpec, MODEL_SCOPES)] + [
        (section.default, (section.path,)) for section in SECTIONS
    ]


@pytest.mark.parametrize("cls, scopes", _dataclasses(), ids=lambda x: getattr(x, "__name__", ""))
def test_dataclass_fields_and_defaults_are_the_tables(cls, scopes):
    fields = {f.name: f for f in dataclasses.fields(cls)}
    rows = keys_in(*scopes)
    assert [row.name for row in rows] == [name for name in fields if name not in NOT_FIELDS]
    for row in rows:
        f = fields[row.name]
        if row.default is REQUIRED:
            assert f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING, (
                row.path
            )
        elif row.kind == SECTION:
            assert f.default_factory is row.default, row.path
        elif row.kind == NAMED:  # name -> the dataclass each name fills
            assert f.default_factory is dict, row.path
        else:
            default = f.default if f.default_factory is dataclasses.MISSING else f.default_factory()
            assert default == row.default and type(default) is type(row.default), row.path


def _table_defaults(scopes: tuple[str, ...]) -> dict:
    """Every optional key of `scopes` set to its default, as it would be written in
    gradcheck.yml."""
    written = {}
    for row in keys_in(*scopes):
        if row.default is REQUIRED:
            continue
        if row.kind == NAMED:
            written[row.name] = {}
        else:
            written[row.name] = _table_defaults((row.path,)) if row.kind == SECTION else row.default
    return written


def test_every_default_is_a_value_its_reader_accepts(tmp_path):
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "rnn.py").write_text("")
    written = _table_defaults((SHARED,))
    entry = {"name": "m", "factory": "models/rnn.py:build_model", **written}
    path = tmp_path / "gradcheck.yml"
    path.write_text(yaml.safe_dump({"version": 1, "defaults": written, "models": [entry]}))
    config = load_config(str(path))
    assert config.problems == []
    [spec] = config.models
    expected = ModelSpec(
        name="m", factory="models/rnn.py:build_model", line=spec.line, key_lines=spec.key_lines
    )
    assert spec == expected


# ------------------------------------------------------------------------------ docs/config.md


def doc_table(heading: str) -> dict[str, dict[str, str]]:
    """The first table under `heading` in docs/config.md: key -> {column title: cell}, in document
    order."""
    lines = DOC.read_text(encoding="utf-8").splitlines()
    assert heading in lines, f"docs/config.md has no heading {heading!r}"
    table = []
    for line in lines[lines.index(heading) + 1 :]:
        if line.startswith("|"):
            table.append([cell.strip() for cell in line.strip().strip("|").split("|")])
        elif table or line.startswith("#"):
            break
    titles, _separator, *body = table
    return {cells[0].strip("`"): dict(zip(titles, cells, strict=True)) for cells in body}


def documented_default(row: Key) -> str:
    """How docs/config.md writes the row's default."""
    if row.default is REQUIRED:
        return "**required**"
    if row.kind == SECTION:
        return f"see [{row.name}](#{row.name})"
    if row.kind == NAMED:
        return f"none; see [{row.path}](#{row.path.replace('.', '')})"
    if row.default is None:
        return "null"
    value = row.default
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return f"`{value if isinstance(value, str) else json.dumps(value)}`"


def test_top_level_table_matches_the_table():
    documented = doc_table("## Top level")
    documented.pop("x-...")  # a prefix for anchors, not a key
    assert list(documented) == [row.name for row in keys_in(TOP)]
    for row in keys_in(TOP):
        assert documented[row.name]["required"] == ("yes" if row.default is REQUIRED else "no"), (
            row.name
        )


@pytest.mark.parametrize(
    "heading, scopes",
    [("## Model entries", MODEL_SCOPES)]
    + [(f"### {section.path}", (section.path,)) for section in SECTIONS],
)
def test_key_tables_match_the_table(heading, scopes):
    documented = doc_table(heading)
    rows = keys_in(*scopes)
    # every key documented, none extra, same order
    assert list(documented) == [row.name for row in rows]
    for row in rows:
        assert documented[row.name]["default"] == documented_default(row), row.path
