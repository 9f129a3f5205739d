"""The image's second Lasagne stack: a model written for Lasagne master is checked on it, in the
image as the Actions runner runs it, with the compile cache baked for master's stock layer
families."""

from __future__ import annotations

import json

import pytest

from .conftest import FACTS
from .runner import run_action
from .test_baked_cache import SEEDED, compiled_modules

pytestmark = pytest.mark.docker


def test_a_master_model_is_checked_on_the_images_master_stack(
    docker_client, action_image, tmp_path
):
    """batch_norm (master only) under `lasagne: auto`: checked on master with the notice saying so,
    passing, and its first run compiles no C module beyond the baked cache (dense-bn-rectify is a
    warmed family)."""
    run = run_action(docker_client, action_image, tmp_path, "master-layers")
    assert run.exit_code == 0, run.log
    model = json.loads((run.workspace / "gradcheck-report.json").read_text())["models"][0]
    assert (model["status"], model["lasagne"]) == ("pass", "master"), run.log
    assert [(n["code"], n["file"], n["line"]) for n in model["notices"]] == [
        ("lasagne-stack", "models/classifier.py", 2)
    ]
    assert "Lasagne master" in run.log
    seeded = SEEDED.search(run.log)
    assert seeded and seeded.group(1) == seeded.group(2), run.log
    assert len(compiled_modules(run.workspace)) == int(seeded.group(1)), run.log
    FACTS.append(
        f"Lasagne master model in the image: compile {model['seconds']['compile']:.1f}s, "
        f"no C compiled"
    )
