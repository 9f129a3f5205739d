"""Whether the reports given to `merge` are the whole of one run, so a merge can never turn a
partial run green.

Each report records its shard ("i/n"), the gradcheck-ci version that wrote it and its plan: the
sha256 of the gradcheck.yml it read and every model name the run shares out over its shards. The
reports make one whole when they agree on all of these, hold shards 1..n each once (or are one
unsharded run), and between them report every planned model. A report of a run that could not read
its config (no plan, a config error) is its own failure, and merges as one.
"""

from __future__ import annotations

import re
from typing import Callable

from ..core.results import RunReport

_SHARD = re.compile(r"^([1-9][0-9]{0,5})/([1-9][0-9]{0,5})$")


def check_whole(reports: list[tuple[str, RunReport]]) -> None:
    """ValueError, one sentence naming a report file, unless `reports` ((path, report) pairs) are
    one whole run."""
    if not reports:
        raise ValueError("nothing to merge")
    planned = [(path, r) for path, r in reports if not (r.plan is None and r.config_errors)]
    for path, report in planned:
        if report.plan is None:
            raise ValueError(
                f"{path} records no plan (config digest and models): it was not "
                f"written by "
                "`gradcheck-ci check` of this version, so whether the shards are "
                "complete is unknown"
            )
    _same(planned, lambda r: r.version, "were written by different gradcheck-ci versions")
    _same(
        planned,
        lambda r: r.plan and r.plan.get("config_sha256"),
        "checked different gradcheck.yml files",
    )
    _same(
        planned,
        lambda r: sorted(r.plan["models"]) if r.plan else None,
        "planned different models (another --model selection)",
    )
    _check_shards(reports)
    if planned:
        _check_models(planned)


def _same(
    reports: list[tuple[str, RunReport]], key: Callable[[RunReport], object], says: str
) -> None:
    if not reports:
        return
    first_path, first = reports[0]
    for path, report in reports[1:]:
        if key(report) != key(first):
            raise ValueError(f"{first_path} and {path} {says}: merge the shards of one run only")


def _check_shards(reports: list[tuple[str, RunReport]]) -> None:
    shards: dict[int, str] = {}
    count = None
    for path, report in reports:
        if report.shard is None:
            if len(reports) > 1:
                raise ValueError(
                    f"{path} is a whole run, not a shard: merge either one whole run "
                    f"or the "
                    "reports of every shard of one run"
                )
            return
        match = _SHARD.match(report.shard) if isinstance(report.shard, str) else None
        if not match or int(match.group(1)) > int(match.group(2)):
            raise ValueError(f"{path} records shard {report.shard!r}, which is not of the form i/n")
        index, total = int(match.group(1)), int(match.group(2))
        if count is not None and total != count:
            raise ValueError(
                f"{path} is shard {index}/{total} but the other reports are shards of "
                f"{count}: "
                "merge the shards of one run only"
            )
        count = total
        if index in shards:
            raise ValueError(f"{shards[index]} and {path} are both shard {index}/{total}")
        shards[index] = path
    missing = [i for i in range(1, (count or 0) + 1) if i not in shards]
    if missing:
        listed = ", ".join(f"{i}/{count}" for i in missing[:5]) + (
            " ..." if len(missing) > 5 else ""
        )
        raise ValueError(
            f"shard {listed} is missing ({len(shards)} of {count} given): a merge of "
            f"part of a run "
            "would pass models nobody checked"
        )


def _check_models(reports: list[tuple[str, RunReport]]) -> None:
    path, first = reports[0]
    assert first.plan is not None
    reported = {m.name for _, r in reports for m in r.models}
    missing = [name for name in first.plan["models"] if name not in reported]
    if missing:
        raise ValueError(
            f"model {missing[0]!r}"
            + (f" and {len(missing) - 1} more" if len(missing) > 1 else "")
            + f" of the run is in none of the reports ({path} and the others): a "
            f"shard's report "
            "is incomplete"
        )
