"""C compiled after the run, for the next one: the models a run evaluated with Python because their
C code was not compiled yet, and for which C pays (platform/ccode.py).

    python -m gradcheck_ci.process.background JOB.json

`start` launches it once the run's models are done, in a session of its own, so that it outlives
the command: it checks each model again with C (GRADCHECK_CI_COMPILE=c), through the same Runner,
and discards the results; each C worker leaves its functions in the function cache and a record of
them (ccode.write_record), which the next run's choice reads. While it runs, a marker file in the
function cache (`c-ready/.compiling-<pid>`) names its models: a run that finds one does not start a
second compile of the same model, and `running` lists them (the benchmarks and tests wait for it).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from typing import Any

from ..config import ModelSpec
from ..core.installation import child_command, child_environment
from ..core.results import ModelResult
from ..platform import ccode, fncache, lasagne_stacks

MARKER_PREFIX = ".compiling-"


def marker_dir(directory: str) -> str:
    return os.path.join(directory, ccode.RECORDS)


def running(directory: str) -> dict[int, list[str]]:
    """The background compiles at work on this function cache: pid -> the model identities."""
    found: dict[int, list[str]] = {}
    folder = marker_dir(directory)
    try:
        names = os.listdir(folder)
    except OSError:
        return found
    for name in names:
        if not name.startswith(MARKER_PREFIX):
            continue
        path = os.path.join(folder, name)
        try:
            pid = int(name[len(MARKER_PREFIX) :])
            with open(path, encoding="utf-8") as handle:
                models = json.load(handle)["models"]
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if _alive(pid):
            found[pid] = list(models)
        else:  # a compile that died (killed, a machine restarted): its marker means nothing
            try:
                os.unlink(path)
            except OSError:
                pass
    return found


def start(
    specs: list[ModelSpec], root: str, config_file: str, job_extra: dict[str, Any] | None = None
) -> tuple[int | None, list[str]]:
    """Launch the background compile of `specs` (those no compile is at work on already); its pid
    (None: nothing to do, or it could not start) and the names of the models it compiles."""
    directory = fncache.cache_dir()
    if directory is None or not specs:
        return None, []
    busy = {model for models in running(directory).values() for model in models}
    todo = [s for s in specs if not any(m in busy for m in _identities(s))]
    if not todo:
        return None, []
    folder = tempfile.mkdtemp(prefix="gradcheck-ci-background-")
    job = os.path.join(folder, "job.json")
    with open(job, "w", encoding="utf-8") as handle:
        json.dump(
            {
                "specs": [s.to_json() for s in todo],
                "root": root,
                "config_file": config_file,
                "job_extra": job_extra or {},
            },
            handle,
        )
    env = dict(os.environ, **{ccode.MODE_ENV: "c"})
    env.pop("GRADCHECK_EVENT_FD", None)
    child_environment(env, root)
    try:
        proc = subprocess.Popen(
            child_command("gradcheck_ci.process.background", job),
            cwd=root,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # not the command's Ctrl-C, not its end
        )
    except OSError:
        shutil.rmtree(folder, ignore_errors=True)
        return None, []
    # written here, not by the child: the next run may start before the child would have
    try:
        os.makedirs(marker_dir(directory), exist_ok=True)
        with open(_marker(directory, proc.pid), "w", encoding="utf-8") as handle:
            json.dump({"models": [m for s in todo for m in _identities(s)]}, handle)
    except OSError:
        pass
    return proc.pid, [s.name for s in todo]


def _marker(directory: str, pid: int) -> str:
    return os.path.join(marker_dir(directory), f"{MARKER_PREFIX}{pid}")


def _identities(spec: ModelSpec) -> list[str]:
    """Both stacks' identities: the compile runs the model on the stack its `lasagne:` chooses."""
    from ..platform import lasagne_stacks

    spec_json = spec.to_json()
    return [
        ccode.identity(spec_json, stack)
        for stack in (lasagne_stacks.RELEASE, lasagne_stacks.MASTER)
    ]


def main(argv: list[str] | None = None) -> int:
    from .runner import NOT_ABOUT_C, Runner

    (job_path,) = sys.argv[1:] if argv is None else argv
    with open(job_path, encoding="utf-8") as handle:
        job = json.load(handle)
    directory = fncache.cache_dir()
    try:
        runner = Runner(
            job["root"],
            job["config_file"],
            on_event=lambda name, message: None,
            on_output=lambda name, line: None,
            job_extra=job["job_extra"],
        )
        specs = [ModelSpec.from_json(s) for s in job["specs"]]
        by_name = {spec.name: spec for spec in specs}

        def failed(result: ModelResult) -> None:
            # a C check that ends in an error, after Python gave a verdict: not tried on every run
            spec = by_name.get(result.name)
            if directory is None or spec is None or result.status != "error" or not result.error:
                return
            if result.error.kind in NOT_ABOUT_C:  # out of time or memory: worth another try
                return
            model = ccode.identity(spec.to_json(), result.lasagne or lasagne_stacks.RELEASE)
            ccode.write_failure(
                directory, model, result.error.message.split("\n")[0][:300], result.files
            )

        runner.run(specs, failed)
    finally:
        if directory is not None:
            try:
                os.unlink(_marker(directory, os.getpid()))
            except OSError:
                pass
        shutil.rmtree(os.path.dirname(job_path), ignore_errors=True)
    return 0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except PermissionError:
        return True
    except OSError:
        return False
    return True


if __name__ == "__main__":
    sys.exit(main())
