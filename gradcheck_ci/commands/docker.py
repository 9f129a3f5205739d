"""`gradcheck-ci docker`: run the check in the gradcheck-ci container, so a laptop gets CI's
verdict.

    gradcheck-ci docker [--image NAME] [--rebuild] [--context DIR] [check args...]

Builds the image from gradcheck-ci's Dockerfile when the tag is missing (or with --rebuild; the
build argument BASE_IMAGE comes from $GRADCHECK_BASE_IMAGE when set), then runs it with the current
directory mounted at /github/workspace as the working directory, passes the check arguments through,
streams the container's output and returns its exit code (0 pass, 1 gradient mismatch, 2 error).
Uses the Docker SDK for Python (`pip install 'gradcheck-ci[docker]'`).

The build context is gradcheck-ci's own source tree: --context, else $GRADCHECK_CI_SOURCE, else the
checkout this package was installed from (an editable install or a clone). With a prebuilt image
(--image, pulled or built before), no source tree is needed.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from .. import __version__
from ..core.errors import print_debug_traceback
from ..core.installation import package_parent
from .helptext import docker_parser

DEFAULT_IMAGE = f"gradcheck-ci:{__version__}"
WORKSPACE = "/github/workspace"
SUBCOMMANDS = ("check", "validate", "merge")
EXIT_ERROR = 2


class DockerRunError(Exception):
    """Anything that stops us before the container gave a verdict (engine, build, missing image)."""


@dataclass
class Options:
    image: str = DEFAULT_IMAGE
    rebuild: bool = False
    context: str | None = None
    args: list[str] = field(default_factory=lambda: ["check"])
    help: bool = False


def parse_args(argv: list[str], environ: Mapping[str, str] | None = None) -> Options:
    """Our options first; everything from the first other word on is for the container's CLI."""
    environ = os.environ if environ is None else environ
    opts = Options(image=environ.get("GRADCHECK_IMAGE") or DEFAULT_IMAGE)
    rest = list(argv)
    while rest:
        word = rest[0]
        if word == "--":
            rest.pop(0)
            break
        if word in ("-h", "--help"):
            opts.help = True
            rest.pop(0)
        elif word == "--rebuild":
            opts.rebuild = True
            rest.pop(0)
        elif word in ("--image", "--context") or word.startswith(("--image=", "--context=")):
            name, _, value = word.partition("=")
            rest.pop(0)
            if not value:
                if not rest:
                    raise DockerRunError(f"{name} needs a value")
                value = rest.pop(0)
            if name == "--image":
                opts.image = value
            else:
                opts.context = value
        else:
            break
    if not rest or rest[0] not in SUBCOMMANDS:
        rest = ["check", *rest]
    opts.args = rest
    return opts


def find_context(
    explicit: str | None = None, environ: Mapping[str, str] | None = None
) -> Path | None:
    """gradcheck-ci's source tree (a directory with the Dockerfile and the package), or None."""
    environ = os.environ if environ is None else environ
    candidates = [explicit, environ.get("GRADCHECK_CI_SOURCE"), package_parent()]
    for candidate in candidates:
        if not candidate:
            continue
        path = Path(candidate).expanduser().resolve()
        if (path / "Dockerfile").is_file() and (path / "gradcheck_ci").is_dir():
            return path
        if candidate is explicit:
            raise DockerRunError(f"--context {candidate}: no Dockerfile and gradcheck_ci/ there")
    return None


def connect() -> Any:
    try:
        import docker
        import docker.errors
    except ImportError:
        raise DockerRunError(
            "the Docker SDK is missing: pip install 'gradcheck-ci[docker]'"
        ) from None
    try:
        client = docker.from_env()
        client.ping()
    # requests' connection errors are OSErrors
    except (docker.errors.DockerException, OSError) as exc:
        raise DockerRunError(f"cannot reach a Docker engine ({exc}); is it running?") from None
    return client


def image_exists(client: Any, image: str) -> bool:
    import docker.errors

    try:
        client.images.get(image)
    except docker.errors.ImageNotFound:
        return False
    return True


def build_image(
    client: Any,
    context: str | Path,
    tag: str,
    base_image: str | None = None,
    out: Any = None,
    build_args: dict[str, str] | None = None,
) -> None:
    """Build `tag` from the Dockerfile in `context`, streaming the build log to `out` (stderr);
    `build_args`: the Dockerfile's other ARGs (the container tests' WARM_FAMILIES)."""
    out = sys.stderr if out is None else out
    buildargs = {**({"BASE_IMAGE": base_image} if base_image else {}), **(build_args or {})}
    print(
        f"gradcheck-ci docker: building {tag} from {context}"
        + "".join(f" ({name}={value})" for name, value in buildargs.items()),
        file=out,
        flush=True,
    )
    stream = client.api.build(
        path=str(context), tag=tag, buildargs=buildargs or None, rm=True, forcerm=True, decode=True
    )
    for chunk in stream:
        if "stream" in chunk:
            out.write(chunk["stream"])
            out.flush()
        elif "error" in chunk:
            message = chunk.get("errorDetail", {}).get("message") or chunk["error"]
            raise DockerRunError(f"building {tag} failed: {message.strip()}")
    if not image_exists(client, tag):
        raise DockerRunError(f"building {tag} finished without an image")


def _binary(stream: Any) -> BinaryIO:
    return getattr(stream, "buffer", stream)


def stream_output(chunks: Iterable[tuple[bytes | None, bytes | None]], out: Any, err: Any) -> None:
    """The container's output as it comes. Under GitHub Actions the check inside does not know it
    runs there, so nothing it prints is a command of ours: every line is neutralised
    (report/logsafe.py), as the CLI's own are."""
    if os.environ.get("GITHUB_ACTIONS") == "true":
        _stream_neutralised(chunks, out, err)
        return
    out_b, err_b = _binary(out), _binary(err)
    for stdout, stderr in chunks:
        if stdout:
            out_b.write(stdout)
            out_b.flush()
        if stderr:
            err_b.write(stderr)
            err_b.flush()


def _stream_neutralised(
    chunks: Iterable[tuple[bytes | None, bytes | None]], out: Any, err: Any
) -> None:
    import codecs

    from ..report.logsafe import CommandSafeStream

    streams = [
        (CommandSafeStream(out), codecs.getincrementaldecoder("utf-8")("replace")),
        (CommandSafeStream(err), codecs.getincrementaldecoder("utf-8")("replace")),
    ]
    for parts in chunks:
        for data, (stream, decoder) in zip(parts, streams, strict=True):
            if data:
                stream.write(decoder.decode(data))
                stream.flush()


def run_container(
    client: Any,
    image: str,
    args: list[str],
    workdir: str | Path,
    user: str | None = None,
    environment: Mapping[str, str] | None = None,
    out: Any = None,
    err: Any = None,
) -> int:
    """Run `image` with `workdir` mounted at /github/workspace; stream its output; its exit code."""
    import docker.errors

    out = sys.stdout if out is None else out
    err = sys.stderr if err is None else err
    container = client.containers.create(
        image,
        command=list(args),
        working_dir=WORKSPACE,
        user=user,
        environment=dict(environment or {}),
        volumes={str(Path(workdir).resolve()): {"bind": WORKSPACE, "mode": "rw"}},
        tty=False,
        stdin_open=False,
        detach=True,
    )
    try:
        container.start()
        try:
            chunks = client.api.attach(
                container.id, stdout=True, stderr=True, stream=True, logs=True, demux=True
            )
            stream_output(chunks, out, err)
            return int(container.wait()["StatusCode"])
        except KeyboardInterrupt:
            print("gradcheck-ci docker: interrupted, stopping the container", file=err, flush=True)
            container.stop(timeout=20)  # the entrypoint forwards SIGTERM: the check cancels cleanly
            stream_output(
                client.api.attach(
                    container.id, stdout=True, stderr=True, stream=True, logs=False, demux=True
                ),
                out,
                err,
            )
            container.wait()
            return EXIT_ERROR
    finally:
        try:
            container.remove(force=True)
        except (docker.errors.APIError, OSError):  # already gone; nothing to clean
            pass


def container_user() -> tuple[str | None, dict[str, str]]:
    """Run as the caller (reports in the mounted repo stay theirs); root stays root, as on
    Actions."""
    if not hasattr(os, "getuid") or os.getuid() == 0:
        return None, {}
    return f"{os.getuid()}:{os.getgid()}", {"HOME": "/tmp"}


def main(argv: list[str]) -> int:
    try:
        opts = parse_args(argv)
        if opts.help:
            print(docker_parser().format_help().rstrip())
            return 0
        client = connect()
        if opts.rebuild or not image_exists(client, opts.image):
            context = find_context(opts.context)
            if context is None:
                raise DockerRunError(
                    f"image {opts.image} not found and no gradcheck-ci source tree to build it "
                    f"from: "
                    "pass --context DIR (a clone of gradcheck-ci) or --image NAME of a built image"
                )
            build_image(client, context, opts.image, os.environ.get("GRADCHECK_BASE_IMAGE") or None)
        user, environment = container_user()
        return run_container(
            client, opts.image, opts.args, os.getcwd(), user=user, environment=environment
        )
    except DockerRunError as exc:
        print_debug_traceback(exc)
        print(f"gradcheck-ci docker: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
