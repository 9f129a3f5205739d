"""The action's inputs (INPUT_* variables) turned into one `gradcheck-ci check` invocation, or errors.

The runner passes every input as `INPUT_<ID upper-cased>` with hyphens kept (INPUT_JSON-REPORT); an
underscore spelling is accepted too, for runners that translate them (act, some wrappers). Defaults
here mirror action.yml, so the image behaves the same when an input is missing altogether; the report
inputs (and their CLI options) come from the table of report formats.
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
    "fail-on-inconclusive": "false",
}

# What @actions/core's getBooleanInput accepts (YAML 1.2 core schema booleans).
TRUE_WORDS = {"true", "True", "TRUE"}
FALSE_WORDS = {"false", "False", "FALSE"}
SHARD = re.compile(r"^(\d+)\s*/\s*(\d+)$")


@dataclass
class Plan:
    """What to run and where; paths in `argv` are as the user wrote them, relative to `cwd`."""

    workspace: str
    cwd: str
    argv: list[str]
    json_report: str  # absolute path the CLI writes its JSON report to
    report_output: str  # the `report` output: json_report relative to the workspace ("" if not kept)
    errors: list[str] = field(default_factory=list)


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
        errors.append(f"Input 'working-directory': {workdir_input!r} is not a directory in the workspace")

    config = get_input("config", environ) or DEFAULTS["config"]
    argv = ["check", "--config", config, "--format", "github"]
    for model in split_models(get_input("models", environ)):
        argv += ["--model", model]

    json_report, report_output = temp_report, ""
    for fmt in REPORT_FORMATS:
        path = get_input(fmt.action_input, environ)
        if fmt.name == "json":  # the adapter reads the JSON report back, so the CLI always writes one
            if path:
                json_report = posixpath.normpath(posixpath.join(workdir, path))
                report_output = relative_to(json_report, workspace)
            else:
                path = temp_report
        if path:
            argv += [fmt.option, path]

    shard = parse_shard(get_input("shard", environ), errors)
    if shard:
        argv += ["--shard", shard]
    if parse_bool("fail-on-expected", get_input("fail-on-expected", environ), errors):
        argv.append("--fail-on-expected")
    if parse_bool("fail-on-inconclusive", get_input("fail-on-inconclusive", environ), errors):
        argv.append("--fail-on-inconclusive")

    return Plan(workspace=workspace, cwd=workdir, argv=argv, json_report=json_report,
                report_output=report_output, errors=errors)
