"""An anchor with duplicate keys merged into many model entries: each entry still reports the
problems, reading stays linear (it compared every replayed problem with every one before it: a 15 KB
file took 55 s), and `validate` prints each problem once with the number of entries it spoils (it
printed 40,001 lines)."""

from __future__ import annotations

from gradcheck_ci.commands import cli
from gradcheck_ci.config import ConfigProblem, load_config

ENTRIES, DUPLICATES = 60, 40


def anchored(tmp_path) -> str:
    lines = (
        ["version: 1", "x-base: &base"]
        + [f"  seed: {i}" for i in range(DUPLICATES + 1)]
        + ["models:"]
    )
    lines += [
        f"  - {{<<: *base, name: m{i}, factory: models/net.py:build}}" for i in range(ENTRIES)
    ]
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "net.py").write_text("def build():\n    pass\n")
    (tmp_path / "gradcheck.yml").write_text("\n".join(lines) + "\n")
    return str(tmp_path / "gradcheck.yml")


def test_every_entry_reports_the_merged_duplicates_without_comparing_problems(
    tmp_path, monkeypatch
):
    compared = [0]
    equal = ConfigProblem.__eq__

    def counting(self, other):
        compared[0] += 1
        return equal(self, other)

    monkeypatch.setattr(ConfigProblem, "__eq__", counting)
    config = load_config(anchored(tmp_path))
    assert len(config.problems) == ENTRIES * DUPLICATES
    assert {p.model for p in config.problems} == {f"m{i}" for i in range(ENTRIES)}
    assert compared[0] == 0  # it was ENTRIES * DUPLICATES**2 / 2 comparisons


def test_validate_prints_a_repeated_problem_once(tmp_path, capsys):
    assert cli.main(["validate", "--config", anchored(tmp_path)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == DUPLICATES + 1
    assert err[0] == (
        f"gradcheck.yml:4:3: duplicate key 'seed' in the model entry (first on line "
        f"3) (in {ENTRIES} model entries)"
    )
    assert err[-1] == f"gradcheck.yml: {DUPLICATES} problem(s)"
