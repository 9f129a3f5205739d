"""The container tests' image warms a subset of what a release image warms (ci/warm_cache.py,
TEST_FAMILIES): what the container tests prove of the smaller cache (a first run compiles no C)
holds of the release's, which compiles every module the subset does and more."""

from __future__ import annotations

import importlib.util
import json

from tests import REPO


def warm_cache():
    spec = importlib.util.spec_from_file_location("warm_cache", REPO / "ci" / "warm_cache.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def names(config: str) -> list[str]:
    return [model["name"] for model in json.loads(config)["models"]]


def test_the_test_images_families_are_a_subset_of_the_release_warm_up():
    warm = warm_cache()
    for stack in warm.STACKS:
        every = names(warm.config_text(list(warm.PRECISIONS), [], stack))
        chosen = names(warm.config_text(list(warm.PRECISIONS), [], stack, warm.TEST_FAMILIES))
        suffix = "-master" if stack == "master" else ""
        wanted = [f"{n}-{p}{suffix}" for n, p, s in warm.TEST_FAMILIES if s == stack]
        assert sorted(chosen) == sorted(wanted) and set(chosen) <= set(every), stack
    # the families the container tests' repositories are built from, on both stacks
    assert {stack for _, _, stack in warm.TEST_FAMILIES} == set(warm.STACKS)


def test_the_dockerfile_warms_every_family_unless_told_otherwise():
    dockerfile = (REPO / "Dockerfile").read_text(encoding="utf-8")
    assert "ARG WARM_FAMILIES=all\n" in dockerfile
    assert 'warm_cache.py --families "$WARM_FAMILIES"' in dockerfile
    assert warm_cache().arguments([]).families == "all"
