"""The next run of an unchanged check (engine/remembered.py) replays the first run's record: each
line probed at the attempt that ended it, the loss's round-off taken where the first run measured
it. On losses in numpy (no Theano) whose lines retry (a kink at the checked point, boosts too long
for a quartic, round-off far above 16 eps |L|): every number is the first run's, from fewer
evaluations. And the record's way to and from the cache: a key that changes with everything the
lines depend on, a record written whole and read with care."""

from __future__ import annotations

import json
import os
import time
import zlib
from pathlib import Path

import numpy as np
import pytest

from gradcheck_ci.engine import directional, remembered
from gradcheck_ci.engine.evaluation import CompiledCheck, Record, at_point
from gradcheck_ci.engine.settings import settings_of
from gradcheck_ci.platform import probe_plans
from tests.samples import spec
from tests.unit.test_directional_statistics import SHAPES, FakeModel, ParamInfo, Quadratic

MODEL = FakeModel([ParamInfo(f"p{k}", None, None, f"Fake#{k}", None) for k in range(len(SHAPES))])
INDICES = list(range(len(SHAPES)))


@pytest.fixture(autouse=True)
def one_process(monkeypatch):
    monkeypatch.setenv("GRADCHECK_CI_FORK_EVALUATIONS", "never")


class Rough(Quadratic):
    """The quadratic with what makes lines retry: a constant offset (a large |L|, so tiny gradients
    are boosted), a quartic term (curvature the boosts are too long for), |p - p0| (a kink at the
    checked point itself) and pseudo-random round-off `noise` ulps of |L| (a hash of the point)."""

    def __init__(
        self,
        seed: int,
        offset: float = 0.0,
        quartic: float = 0.0,
        kink: float = 0.0,
        noise: float = 0.0,
    ) -> None:
        super().__init__(seed)
        self.offset, self.quartic, self.kink, self.noise = offset, quartic, kink, noise
        self.at = [v.copy() for v in self.values]

    def loss(self, *values: np.ndarray) -> float:
        value = self.offset + super().loss(*values)
        for v, at in zip(values, self.at, strict=True):
            value += self.quartic * float(np.sum(v**4)) + self.kink * float(np.sum(np.abs(v - at)))
        if self.noise:
            point = b"".join(np.ascontiguousarray(v).tobytes() for v in values)
            value += self.noise * (zlib.crc32(point) / 2**32 - 0.5) * abs(value) * 2.2e-16
        return value

    def exact(self, k: int, value: np.ndarray) -> np.ndarray:
        kink = np.sign(value - self.at[k])
        return super().exact(k, value) + 4 * self.quartic * value**3 + self.kink * kink


def run(loss: Rough, seed: int, replay: Record | None = None) -> tuple[CompiledCheck, list]:
    check = CompiledCheck(loss.loss_and_grads, loss.loss, [], loss.values, "float64")
    check.replay = replay
    grads = loss.loss_and_grads(*loss.values)[1:]
    settings = settings_of(spec(seed=seed))
    results = directional.compare_tensors(
        check, MODEL, grads, INDICES, settings, lambda _: None, at_point
    )
    numbers = [
        {k: v for k, v in r.to_json().items() if k != "evaluations"} for r in results.values()
    ]
    return check, numbers


ROUGH = {
    "round-off": dict(noise=3000.0),
    "boosts too long": dict(offset=1e8, quartic=10.0),
    "kink at the point": dict(kink=1.0),
    "kink and round-off": dict(kink=1.0, noise=3000.0),
}
# (kind, a wrong gradient): the cases whose lines retry (a passing band line through a kink, or
# through a curvature the boosts are too long for, judges at once; its failing parts' lines retry)
CASES = [
    ("round-off", False),
    ("round-off", True),
    ("boosts too long", True),
    ("kink at the point", True),
    ("kink and round-off", False),
    ("kink and round-off", True),
]


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("kind, wrong", CASES)
def test_a_replayed_run_says_what_the_first_run_said_from_fewer_evaluations(kind, wrong, seed):
    loss = Rough(seed, **ROUGH[kind])
    if wrong:
        loss.errors = {1: np.full(SHAPES[1], 1e-4)}
    first, numbers = run(loss, seed)
    assert remembered.saves(first.record), "the case must retry, or it shows nothing"
    second, replayed = run(loss, seed, replay=first.record)
    assert replayed == numbers
    assert second.evaluations < first.evaluations
    # the replay's own record is the one it replayed: the record is not written again
    assert second.record == first.record


def test_a_record_that_does_not_fit_is_dropped_and_the_check_probes_as_usual():
    loss = retrying()
    first, numbers = run(loss, 0)
    short = Record(first.record.members, [], dict(first.record.floors))
    _, again = run(loss, 0, replay=short)
    assert again == numbers
    other = Record((0, 1), list(first.record.attempts), {})  # other tensors: not replayed
    check, again = run(loss, 0, replay=other)
    assert again == numbers and check.evaluations == first.evaluations


def test_the_key_changes_with_everything_the_lines_depend_on():
    loss = Rough(0)
    check = CompiledCheck(loss.loss_and_grads, loss.loss, [np.ones(3)], loss.values, "float64")
    settings = settings_of(spec(seed=1))
    key = remembered.key(check, settings, ["fn-a", "fn-b"])
    assert key is not None and key == remembered.key(check, settings, ["fn-b", "fn-a"])
    others = [
        remembered.key(check, settings, ["fn-a", "fn-c"]),
        remembered.key(check, settings_of(spec(seed=2)), ["fn-a", "fn-b"]),
        remembered.key(check, settings_of(spec(seed=1, rtol=1e-3)), ["fn-a", "fn-b"]),
    ]
    check.data = [np.ones(3) * 2]
    others.append(remembered.key(check, settings, ["fn-a", "fn-b"]))
    check.data = [np.ones(3)]
    check.base = [v + 1e-12 for v in check.base]
    others.append(remembered.key(check, settings, ["fn-a", "fn-b"]))
    assert len({key, *others}) == 1 + len(others)
    # a function the cache could not key (or the cache off): nothing says the next run is the same
    assert remembered.key(check, settings, ["fn-a", ""]) is None
    assert remembered.key(check, settings, []) is None


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """The function cache's directory (where records live): a folder of the test's."""
    monkeypatch.setattr(probe_plans.fncache, "cache_dir", lambda environ=None: str(tmp_path))
    return tmp_path


def retrying() -> Rough:
    """A correct model whose lines retry (a kink at the point, round-off beyond 16 eps |L|)."""
    return Rough(0, kink=1.0, noise=3000.0)


FUNCTIONS = ["fn-a", "fn-b"]  # the function-cache keys of the check's functions
SETTINGS = settings_of(spec(seed=0))


def fresh(loss: Rough) -> CompiledCheck:
    return CompiledCheck(loss.loss_and_grads, loss.loss, [], loss.values, "float64")


@pytest.mark.parametrize("with_gradient", [False, True])
def test_a_kept_record_is_recalled_by_the_next_run_with_its_probe_function(cache, with_gradient):
    loss = retrying()
    first, numbers = run(loss, 0)
    first.probe_with_gradient = with_gradient
    check_key = remembered.key(first, SETTINGS, FUNCTIONS)
    assert remembered.keep(first, check_key)
    check = fresh(loss)
    recalled = remembered.recall(check, SETTINGS, FUNCTIONS)
    assert recalled == remembered.Recalled(check_key, with_gradient, saves=True)
    assert check.replay == first.record
    # the run that replays it uses that probe function whatever its timing says, after one
    # evaluation (its loss, which the worker compares with the gradient function's)
    assert check.choose_probe_function(0.0 if not with_gradient else 1e9, with_gradient) == (
        loss.loss(*loss.values)
    )
    assert check.probe_with_gradient is with_gradient and check.evaluations == 1
    # a run that replayed the record unchanged does not write it again
    check.record = first.record
    assert not remembered.keep(check, check_key)
    # another check (other functions), or one the function cache could not key: no record
    other = fresh(loss)
    assert remembered.recall(other, SETTINGS, ["fn-c"]).with_gradient is None
    assert remembered.recall(other, SETTINGS, ["fn-a", ""]) == remembered.Recalled(None)
    assert other.replay is None


@pytest.mark.parametrize(
    "written",
    [
        "{not json",
        "[]",
        '{"members": [0], "attempts": [-1], "floors": []}',
        '{"members": [0], "attempts": [0], "floors": [[false, -1.0, 0, true]]}',
        '{"members": [0], "attempts": [0], "floors": [[0, 1e-12, 0, 1]]}',
        '{"members": "abc", "attempts": [0]}',
        '{"members": [0], "attempts": [0], "floors": []}',
        '{"members": [0], "attempts": [0], "floors": [], "probe_with_gradient": 1}',
    ],
)
def test_a_record_that_does_not_read_as_one_is_ignored(cache, written):
    check = fresh(Rough(0))
    check_key = remembered.key(check, SETTINGS, FUNCTIONS)
    assert check_key is not None
    path = Path(probe_plans.record_path(str(cache), check_key))
    path.parent.mkdir(parents=True)
    path.write_text(written)
    assert remembered.recall(check, SETTINGS, FUNCTIONS) == remembered.Recalled(check_key)
    assert check.replay is None


def test_nothing_is_kept_when_the_function_cache_is_off(cache, monkeypatch):
    smooth, _ = run(Rough(0), 0)  # no round-off to measure: its lines judge at the first attempt
    assert not remembered.saves(smooth.record)
    assert remembered.keep(smooth, "smooth")  # its probe function is kept all the same
    rough, _ = run(retrying(), 0)
    assert remembered.keep(rough, "on")
    written = json.loads(Path(probe_plans.record_path(str(cache), "on")).read_text())
    assert written["attempts"] == rough.record.attempts
    monkeypatch.setattr(probe_plans.fncache, "cache_dir", lambda environ=None: None)
    assert not remembered.keep(rough, "off") and probe_plans.load("on") is None


def test_records_unused_for_30_days_are_pruned(cache):
    for key in ("old", "new"):
        assert probe_plans.records.write(probe_plans.record_path(str(cache), key), {})
    old = Path(probe_plans.record_path(str(cache), "old"))
    month = time.time() - 31 * 86400
    os.utime(old, (month, month))
    # a temporary file a killed writer left an hour ago goes too (not counted as a record)
    left = old.parent / ".tmp-killed.json"
    left.write_text("{")
    hour = time.time() - 3700
    os.utime(left, (hour, hour))
    assert probe_plans.prune(str(cache)) == 1
    assert not old.exists() and Path(probe_plans.record_path(str(cache), "new")).exists()
    assert not left.exists()


def test_a_forged_round_off_cannot_widen_the_tolerances_beyond_what_a_measurement_could():
    """A record with a floor far above any round-off (a cache written by someone else) would hide a
    wrong gradient behind wide tolerances; it is treated as a measurement beyond the limit is
    (line.usable_floor: not used), so the wrong tensor still fails."""
    loss = Rough(1, noise=3000.0)
    loss.errors = {1: np.full(SHAPES[1], 1e-4)}
    first, numbers = run(loss, 1)
    assert [n["status"] for n in numbers] == ["pass", "fail", "pass"]
    forged = Record(
        first.record.members,
        list(first.record.attempts),
        {at: (1e3, line, on_line) for at, (_, line, on_line) in first.record.floors.items()},
    )
    assert forged.floors
    _, replayed = run(loss, 1, replay=forged)
    assert [n["status"] for n in replayed] == ["pass", "fail", "pass"]
