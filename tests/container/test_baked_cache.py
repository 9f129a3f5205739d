"""The image's baked compile cache (ci/warm_cache.py at build time) and the function cache, in the
image as the Actions runner runs it."""

from __future__ import annotations

import json
import re

import pytest

from .conftest import FACTS
from .runner import run_action

pytestmark = pytest.mark.docker

SEEDED = re.compile(
    r"(\d+) compiled module\(s\), (\d+) of them copied from the image's baked cache"
)


def compiled_modules(workspace) -> set[str]:
    return {p.name for p in (workspace / ".gradcheck-ci-cache").glob("theano/*/compiledir_*/tmp*")}


def test_a_first_run_on_stock_layer_models_compiles_no_c(docker_client, action_image, tmp_path):
    """Models built from stock Lasagne 0.1 layers in the styles real code uses (an MNIST convnet and
    MLP with dropout, a masked BiLSTM tagger over embeddings, a GRU sentence classifier in float32),
    none of them among the networks the image was warmed with: the cache directory starts as a copy
    of the baked cache and ends with no module more."""
    run = run_action(docker_client, action_image, tmp_path, "stock-layers")
    assert run.exit_code == 0, run.log
    seeded = SEEDED.search(run.log)
    assert seeded and seeded.group(1) == seeded.group(2), run.log
    assert len(compiled_modules(run.workspace)) == int(seeded.group(1)), run.log
    report = json.loads((run.workspace / "gradcheck-report.json").read_text())
    assert [m["status"] for m in report["models"]] == ["pass"] * 4
    # Their scans stepped in the C loop the image baked (platform/scan_loop.py), copied with the
    # rest: none was built at run time (a second one would be named by another key).
    baked = (
        docker_client.containers.run(
            action_image,
            ["-c", "ls -d /opt/gradcheck/theano-cache/compiledir_*/gradcheck-ci-scan-*/*.so"],
            entrypoint="/bin/sh",
            remove=True,
        )
        .decode()
        .split()
    )
    cache = run.workspace / ".gradcheck-ci-cache"
    loops = {p.parent.name for p in cache.glob("theano/*/compiledir_*/gradcheck-ci-scan-*/*.so")}
    assert len(baked) == 1 and loops == {baked[0].split("/")[-2]}, (baked, loops)
    FACTS.append(
        "stock-layer repository, first run: {} baked modules, none compiled; compile "
        "{:.1f}s".format(seeded.group(1), sum(m["seconds"]["compile"] for m in report["models"]))
    )


def test_the_second_run_loads_the_checks_functions_from_the_restored_cache(
    docker_client, action_image, tmp_path
):
    """The reported network twice, the second run with the first one's cache directory: its check
    and its diagnosis load every function instead of compiling, and the result is the same."""
    first = run_action(docker_client, action_image, tmp_path / "first", "seed-rnn")
    second = run_action(
        docker_client,
        action_image,
        tmp_path / "second",
        "seed-rnn",
        preload={".gradcheck-ci-cache": first.workspace / ".gradcheck-ci-cache"},
    )
    assert first.exit_code == second.exit_code == 1, second.log
    models = [
        {
            m["name"]: m
            for m in json.loads((run.workspace / "gradcheck-report.json").read_text())["models"]
        }
        for run in (first, second)
    ]
    truncated = [m["seed-rnn-truncated"] for m in models]
    assert truncated[0]["extra"]["compile"]["cache"] == "miss"
    assert truncated[1]["extra"]["compile"]["cache"] == "hit"
    assert truncated[1]["extra"]["diagnosis_compile"]["cache"] == "hit"
    assert [d["code"] for d in truncated[1]["diagnoses"]] == [
        d["code"] for d in truncated[0]["diagnoses"]
    ]
    assert "loaded from the function cache" in second.log
    FACTS.append(
        "reported network (1,000 steps) in the image: complete failing result after "
        "{:.1f}s, then {:.1f}s with the function cache".format(
            first.first_result or float("nan"), second.first_result or float("nan")
        )
    )
