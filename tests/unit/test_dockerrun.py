"""`gradcheck-ci docker`'s argument handling (gradcheck_ci/commands/docker.py), without Docker; the
image itself is tested in tests/container."""

from __future__ import annotations

import pytest

from gradcheck_ci.commands import docker as dockerrun


@pytest.mark.parametrize(
    "argv, image, rebuild, args",
    [
        ([], dockerrun.DEFAULT_IMAGE, False, ["check"]),
        (["--config", "g.yml"], dockerrun.DEFAULT_IMAGE, False, ["check", "--config", "g.yml"]),
        (["--image", "x:1", "--rebuild", "--model", "m"], "x:1", True, ["check", "--model", "m"]),
        (["--image=x:2", "validate"], "x:2", False, ["validate"]),
        (["--", "--image", "y"], dockerrun.DEFAULT_IMAGE, False, ["check", "--image", "y"]),
    ],
)
def test_docker_args(argv, image, rebuild, args):
    opts = dockerrun.parse_args(argv, environ={})
    assert (opts.image, opts.rebuild, opts.args) == (image, rebuild, args)


def test_docker_image_from_env():
    assert (
        dockerrun.parse_args([], environ={"GRADCHECK_IMAGE": "ghcr.io/x/y:1"}).image
        == "ghcr.io/x/y:1"
    )


def test_docker_context_is_this_checkout():
    context = dockerrun.find_context(environ={})
    assert context is not None and (context / "Dockerfile").is_file()
    with pytest.raises(dockerrun.DockerRunError):
        dockerrun.find_context("/nonexistent", environ={})


def test_docker_without_an_engine_is_exit_2(monkeypatch, capsys):
    def no_engine():
        raise dockerrun.DockerRunError("cannot reach a Docker engine")

    monkeypatch.setattr(dockerrun, "connect", no_engine)
    assert dockerrun.main(["--config", "x.yml"]) == 2
    assert "cannot reach a Docker engine" in capsys.readouterr().err


def test_container_output_under_actions_starts_no_command(monkeypatch):
    """The check in the container does not know it runs under Actions: what its model printed is
    neutralised."""
    import io

    from tests.actions_log import parsed_as_command, runner_lines

    chunks = [
        (b"[net] | step 1\r::error file=net.py::fo", None),
        (b"rged\n", b"##[add-mask]x\n"),
        (b"\xc3", None),
        (b"\xa9t\xc3\xa9\n", None),
    ]
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    out, err = io.StringIO(), io.StringIO()
    dockerrun.stream_output(chunks, out, err)
    assert not [
        line for line in runner_lines(out.getvalue() + err.getvalue()) if parsed_as_command(line)
    ]
    # a character split over two chunks
    assert "forged" in out.getvalue() and out.getvalue().endswith("été\n")


def test_build_arguments_reach_the_engine_beside_the_base_image():
    """The container tests' image is built with WARM_FAMILIES=tests (tests/container/image.py): the
    argument must reach the engine, and a build without arguments sends none (the Dockerfile's
    defaults: a release's full warm-up)."""
    import io
    from types import SimpleNamespace

    from gradcheck_ci.commands.docker import build_image

    calls = []

    def build(**kwargs):
        calls.append(kwargs["buildargs"])
        return [{"stream": "Step 1/1\n"}]

    client = SimpleNamespace(
        api=SimpleNamespace(build=build), images=SimpleNamespace(get=lambda tag: tag)
    )
    out = io.StringIO()
    build_image(client, ".", "t", base_image="base", out=out, build_args={"WARM_FAMILIES": "tests"})
    build_image(client, ".", "t", out=out)
    assert calls == [{"BASE_IMAGE": "base", "WARM_FAMILIES": "tests"}, None]
    assert "(BASE_IMAGE=base) (WARM_FAMILIES=tests)" in out.getvalue()
