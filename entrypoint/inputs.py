"""The action's inputs (INPUT_* variables) turned into one `gradcheck-ci check` (or, with `merge`,
one `gradcheck-ci merge`) invocation, or errors.

The runner passes every input as `INPUT_<ID upper-cased>` with hyphens kept (INPUT_JSON-REPORT); an
underscore spelling is accepted too, for runners that translate them (act, some wrappers). Defaults
here mirror action.yml, so the image behaves the same when an input is missing altogether; the
report inputs (and their CLI options) come from the table of report formats.
"""

from __future__ import annotations

import os
import posixpath
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from gradcheck_ci.report.formats import REPORT_FORMATS

DEFAULTS = {
    "config": "gradcheck.yml",
    "models": "",
    "working-directory": ".",
    **{fmt.action_input: fmt.action_default for fmt in REPORT_FORMATS},
    "shard": "",
    "fail-on-expected": "false",
    "changed-since": "",
    "cache-dir": ".gradcheck-ci-cache",
    "merge": "",
    "fail-on-inconclusive": "false",
    "pass-env": "",
}

# What @actions/core's getBooleanInput accepts (YAML 1.2 core schema booleans).
TRUE_WORDS = {"true", "True", "TRUE"}
FALSE_WORDS = {"false", "False", "FALSE"}
SHARD = re.compile(r"^(\d+)\s*/\s*(\d+)$")
ENV_NAME = re.compile(r"[A-Za-z0-9_*?\[\]]+")


@dataclass
class Plan:
    """What to run and where; paths in `argv` are as the user wrote them, relative to `cwd`."""

    workspace: str
    cwd: str
    argv: list[str]
    json_report: str  # absolute path the CLI writes its JSON report to
    report_output: (
        str  # the `report` output: json_report relative to the workspace ("" if not kept)
    )
    errors: list[str] = field(default_factory=list)
    cache_dir: str = (
        ""  # absolute path of the cache directory ("" when none: `cache-dir: ''`, or merge)
    )
    merging: bool = False  # `merge` was given: the run merges shard reports instead of checking
    changed_since: str = (
        ""  # the `changed-since` input: the previous JSON report is the record it reads
    )


def get_input(name: str, environ: Mapping[str, str]) -> str:
    for key in (f"INPUT_{name.upper()}", f"INPUT_{name.upper().replace('-', '_')}"):
        if key in environ:
            return environ[key].strip()
    return DEFAULTS[name]


def split_models(text: str) -> list[str]:
    return [item for item in re.split(r"[\s,]+", text) if item]


def parse_bool(name: str, text: str, errors: list[str]) -> bool:
    if text == "":
        text = DEFAULTS[name]
    if text in TRUE_WORDS:
        return True
    if text in FALSE_WORDS:
        return False
    errors.append(f"Input '{name}' must be true or false, not {text!r}")
    return False


def parse_shard(text: str, errors: list[str]) -> str | None:
    if not text:
        return None
    match = SHARD.match(text)
    if not match:
        errors.append(f"Input 'shard' must look like i/n (for example 1/4), not {text!r}")
        return None
    index, total = int(match.group(1)), int(match.group(2))
    if total < 1 or not 1 <= index <= total:
        errors.append(f"Input 'shard' {text!r}: need 1 <= i <= n (shards are numbered from 1)")
        return None
    return f"{index}/{total}"


def merge_files(text: str, workdir: str, errors: list[str]) -> list[str]:
    """The reports the `merge` input names (paths or globs relative to working-directory), in a
    stable order."""
    import glob

    found: list[str] = []
    for pattern in split_models(text):
        matches = sorted(glob.glob(posixpath.join(workdir, pattern)))
        if not matches:
            errors.append(f"Input 'merge': no file matches {pattern!r} in the working directory")
        found += [posixpath.relpath(path, workdir) for path in matches]
    return list(dict.fromkeys(found))


def relative_to(path: str, base: str) -> str:
    """`path` relative to `base` with forward slashes, or absolute when it lies outside `base`."""
    rel = posixpath.relpath(path, base)
    if rel == ".." or rel.startswith("../"):
        return path
    return rel


def plan(environ: Mapping[str, str], cwd: str, temp_report: str) -> Plan:
    """Read the inputs; `temp_report` is where the JSON report goes when the user keeps none."""
    errors: list[str] = []
    workspace = posixpath.normpath(environ.get("GITHUB_WORKSPACE") or cwd)
    workdir_input = get_input("working-directory", environ) or "."
    workdir = posixpath.normpath(posixpath.join(workspace, workdir_input))
    if not os.path.isdir(workdir):
        errors.append(
            f"Input 'working-directory': {workdir_input!r} is not a directory in the workspace"
        )

    merging = bool(get_input("merge", environ))
    argv = merge_head(environ, workdir, errors) if merging else check_head(environ)
    json_report, report_output = temp_report, ""
    for fmt in REPORT_FORMATS:
        path = get_input(fmt.action_input, environ)
        if (
            fmt.name == "json"
        ):  # the adapter reads the JSON report back, so the CLI always writes one
            if path:
                json_report = posixpath.normpath(posixpath.join(workdir, path))
                report_output = relative_to(json_report, workspace)
            else:
                path = temp_report
        if path:
            argv += [fmt.option, path]
    cache_dir = ""
    if not merging:
        tail, cache_dir = check_tail(environ, workspace, errors)
        argv += tail
    return Plan(
        workspace=workspace,
        cwd=workdir,
        argv=argv,
        json_report=json_report,
        report_output=report_output,
        errors=errors,
        cache_dir=cache_dir,
        merging=merging,
        changed_since="" if merging else get_input("changed-since", environ),
    )


def check_head(environ: Mapping[str, str]) -> list[str]:
    config = get_input("config", environ) or DEFAULTS["config"]
    argv = ["check", "--config", config, "--format", "github"]
    for model in split_models(get_input("models", environ)):
        argv += ["--model", model]
    return argv


def check_tail(
    environ: Mapping[str, str], workspace: str, errors: list[str]
) -> tuple[list[str], str]:
    """The check's options after the reports, and the cache directory (absolute; "" for none)."""
    argv: list[str] = []
    shard = parse_shard(get_input("shard", environ), errors)
    if shard:
        argv += ["--shard", shard]
    if parse_bool("fail-on-expected", get_input("fail-on-expected", environ), errors):
        argv.append("--fail-on-expected")
    cache_input = get_input("cache-dir", environ)
    cache_dir = ""
    if cache_input:  # relative to the workspace: where actions/cache finds it
        cache_dir = posixpath.normpath(posixpath.join(workspace, cache_input))
        if os.path.exists(cache_dir) and not os.path.isdir(cache_dir):
            errors.append(f"Input 'cache-dir': {cache_input!r} exists and is not a directory")
        argv += ["--cache-dir", cache_dir]
    changed_since = get_input("changed-since", environ)
    if changed_since:
        argv += ["--changed-since", changed_since]
    if parse_bool("fail-on-inconclusive", get_input("fail-on-inconclusive", environ), errors):
        argv.append("--fail-on-inconclusive")
    for name in split_models(
        get_input("pass-env", environ)
    ):  # the model's code gets only these (and the base)
        if not ENV_NAME.fullmatch(name):
            errors.append(
                f"Input 'pass-env': {name!r} is not an environment variable's name (or a glob of "
                f"names)"
            )
        argv += ["--pass-env", name]
    return argv, cache_dir


def merge_head(environ: Mapping[str, str], workdir: str, errors: list[str]) -> list[str]:
    """`merge` and the shard reports the `merge` input names (never the merged report it writes)."""
    merge_input = get_input("merge", environ)
    files = merge_files(merge_input, workdir, errors)
    given_json = get_input("json-report", environ)
    if given_json:  # a glob such as *.json must not read the merged report it is about to write
        output = posixpath.relpath(posixpath.normpath(posixpath.join(workdir, given_json)), workdir)
        files = [path for path in files if path != output]
    if not files and not errors:
        errors.append(
            f"Input 'merge': {merge_input!r} names no report other than the merged one "
            f"(json-report)"
        )
    for name in ("models", "shard", "changed-since", "pass-env"):
        if get_input(name, environ):
            errors.append(
                f"Input '{name}' does not apply when 'merge' is given (merge combines finished "
                f"shards)"
            )
    return ["merge", *files, "--format", "github"]
