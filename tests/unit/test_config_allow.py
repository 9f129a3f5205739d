"""The `allow:` key: cause codes a model accepts, only those with an ablation, with did-you-mean."""

from __future__ import annotations

import pytest

from gradcheck_ci.core.causes import ALLOWABLE, BY_CODE
from tests.unit.test_config import ENTRY, HEADER, load, only_problem


def test_allowable_causes_are_those_with_an_ablation():
    assert set(ALLOWABLE) == {
        "stochastic-forward",
        "truncated-bptt",
        "gradient-clipping",
        "gradient-stopped",
        "low-precision",
    }
    assert all(BY_CODE[code].confirmed_by for code in ALLOWABLE)


def test_a_list_a_single_code_and_defaults(tmp_path):
    config = load(
        tmp_path,
        """
        version: 1
        defaults:
          allow: truncated-bptt
        models:
          - name: a
            factory: models/rnn.py:build_model
          - name: b
            factory: models/rnn.py:build_model
            allow: [gradient-clipping, truncated-bptt, gradient-clipping]
          - name: c
            factory: models/rnn.py:build_model
            allow: []
        """,
    )
    assert config.problems == []
    a, b, c = config.models
    assert (a.allow, b.allow, c.allow) == (
        ["truncated-bptt"],
        ["gradient-clipping", "truncated-bptt"],
        [],
    )
    assert b.key_lines["allow"] == 9


@pytest.mark.parametrize(
    "value, message",
    [
        (
            "[truncated-bpt]",
            "allow[0]: 'truncated-bpt' cannot be allowed (did you mean 'truncated-bptt'?)",
        ),
        (
            "wrong-backward",
            "allow: 'wrong-backward' cannot be allowed (causes that can be allowed "
            "(they have an ablation): stochastic-forward, truncated-bptt, "
            "gradient-clipping, gradient-stopped, low-precision)",
        ),
        (
            "{truncated-bptt: true}",
            "allow must be a list of cause codes such as [truncated-bptt, "
            "gradient-clipping], got a mapping",
        ),
        (
            "[1]",
            "allow[0] must be a cause code (a non-empty string), got 1 (a number) (quote it to "
            "make it a string)",
        ),
    ],
)
def test_bad_values_name_the_line_and_the_choices(tmp_path, value, message):
    problem = only_problem(load(tmp_path, HEADER + ENTRY + f"    allow: {value}\n"))
    assert problem.line == 5
    assert problem.message == message
