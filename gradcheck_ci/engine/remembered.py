"""What a run of a check learnt about probing it, kept for the next run of the same check (the
same compiled functions, parameter values, data and settings): the probe function it chose, which
attempt of the precision's ladder each of its lines ended at, and the round-off it measured and
where (evaluation.Record). The next run replays it: the same probe function whatever its timing says
then, each line probed at the attempt that ended it, the round-off taken from the record where the
first run measured it. The lines probed and judged are the first run's, so every verdict and number
is the same; the attempts that did not judge and the round-off measurement are not paid for again
(12 of the 35 evaluations of the reported network, examples/seed-rnn). Kept by
platform/probe_plans.py (off with the function cache); a record that does not fit is dropped from
the line it does not fit, and from there the check probes as it always did."""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from typing import Any

from ..platform import probe_plans
from .digests import digest
from .evaluation import CompiledCheck, Record
from .settings import CheckSettings

FORMAT = 2  # of the record and its key: another value is another key


def key(check: CompiledCheck, settings: CheckSettings, function_keys: list[str]) -> str | None:
    """The check's key: its functions (their function-cache keys), parameter values, data and
    settings. None when a function has no key (the function cache was off or could not describe
    it): nothing then says the next run checks the same functions."""
    if not function_keys or not all(function_keys):
        return None
    h = hashlib.blake2b(digest_size=20)
    described = {
        "format": FORMAT,
        "functions": sorted(function_keys),
        "precision": check.precision,
        "settings": [settings.mode, settings.rtol, settings.atol, settings.seed],
        "directions": settings.directions,
    }
    h.update(json.dumps(described, sort_keys=True).encode())
    h.update(digest(list(enumerate(check.base))))
    h.update(digest(list(enumerate(check.data))))
    return h.hexdigest()


@dataclass(frozen=True)
class Recalled:
    """What recall found for a check: its key (None: it has none, see key) and the probe function
    its last run chose (None: no record)."""

    key: str | None
    with_gradient: bool | None = None
    saves: bool = False  # replaying the record saves evaluations (see saves)


def recall(check: CompiledCheck, settings: CheckSettings, function_keys: list[str]) -> Recalled:
    """The check's key, and the last run's record under it given to the check to replay (with the
    probe function that run chose, for CompiledCheck.choose_probe_function). A record that does not
    read as one is ignored."""
    check_key = key(check, settings, function_keys)
    if check_key is None or check.reused_plan is not None:
        return Recalled(check_key)
    value = probe_plans.load(check_key)
    try:
        record = _from_json(value)
        with_gradient = value["probe_with_gradient"]
        if not isinstance(with_gradient, bool):
            raise TypeError("not a probe function")
    except (KeyError, TypeError, ValueError):
        return Recalled(check_key)
    check.replay = record
    return Recalled(check_key, with_gradient, saves(record))


def keep(check: CompiledCheck, check_key: str | None) -> bool:
    """Keep what this run's directional check did (its probe function and how its lines went),
    unless it replayed the record it would write; whether it was written."""
    record = check.record
    if check_key is None or not isinstance(record, Record) or check.replay == record:
        return False
    kept = {**_to_json(record), "probe_with_gradient": check.probe_with_gradient}
    return probe_plans.store(check_key, kept)


def saves(record: Record) -> bool:
    """Whether replaying `record` saves evaluations: some line ended beyond the ladder's first
    attempt, or a round-off floor was measured."""
    return bool(record.floors) or any(attempt > 0 for attempt in record.attempts)


def _to_json(record: Record) -> dict[str, Any]:
    return {
        "members": list(record.members),
        "attempts": list(record.attempts),
        "confirmed": list(record.confirmed),
        "floors": [
            [nearby, floor, line, on_line]
            for nearby, (floor, line, on_line) in sorted(record.floors.items())
        ],
    }


def _from_json(value: Any) -> Record:
    record = Record(
        members=tuple(int(k) for k in value["members"]),
        attempts=[int(a) for a in value["attempts"]],
        confirmed=[int(c) for c in value["confirmed"]],
    )
    for nearby, floor, line, on_line in value["floors"]:
        if not isinstance(nearby, bool) or not isinstance(on_line, bool):
            raise TypeError("not a floor")
        record.floors[nearby] = (float(floor), int(line), on_line)
    if any(a < 0 for a in record.attempts + record.confirmed) or any(
        not math.isfinite(floor) or floor < 0.0 or line < 0
        for floor, line, _ in record.floors.values()
    ):
        raise ValueError("not a record")
    return record
