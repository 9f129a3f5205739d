"""The environment the model's code runs with: the worker's, never simply the CLI's.

A factory runs with everything its environment holds, and under GitHub Actions that can include a
token passed to the step (`GITHUB_TOKEN`, `NPM_TOKEN`, ...), the runner's own `ACTIONS_*` runtime
tokens (which reach container actions) and the files through which a step changes later ones
(`GITHUB_ENV`, `GITHUB_PATH`, ...). By default a worker gets the environment without those. With an
allow-list (`check --pass-env NAME`, the action's `pass-env`, or
GRADCHECK_CI_PASS_ENV="NAME,OTHER*") it gets only what Python, Theano and the compiler need (BASE)
plus the names listed, secret-like ones included when named.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping

# unset: drop secret-like names; set: the allow-list (comma-separated globs)
PASS_ENV = "GRADCHECK_CI_PASS_ENV"
# A secret by its name: a word of it, between underscores, says so.
_SECRET = re.compile(
    r"(^|_)(TOKEN|SECRET|PASSWORD|PASSWD|PASSPHRASE|CREDENTIALS?|PRIVATE_KEY|API_KEY|ACCESS_KEY)"
    r"(_|$)",
    re.IGNORECASE,
)
# ACTIONS_RUNTIME_TOKEN, ACTIONS_ID_TOKEN_REQUEST_TOKEN, ACTIONS_CACHE_URL, ...
_RUNNER_PREFIXES = ("ACTIONS_",)
# Files whose lines become later steps' environment, PATH, outputs, state and summary.
_RUNNER_FILES = frozenset(
    {"GITHUB_ENV", "GITHUB_PATH", "GITHUB_OUTPUT", "GITHUB_STATE", "GITHUB_STEP_SUMMARY"}
)
BASE = frozenset(
    {
        "PATH",
        "HOME",
        "USER",
        "LOGNAME",
        "SHELL",
        "LANG",
        "LANGUAGE",
        "TZ",
        "TERM",
        "TMPDIR",
        "TEMP",
        "TMP",
        "PYTHONPATH",
        "PYTHONHASHSEED",
        "PYTHONDONTWRITEBYTECODE",
        "PYTHONUNBUFFERED",
        "VIRTUAL_ENV",
        "THEANO_FLAGS",
        "THEANORC",
        "LD_LIBRARY_PATH",
        "CC",
        "CXX",
        "CPATH",
        "LIBRARY_PATH",
    }
)
_BASE_PREFIXES = ("LC_", "GRADCHECK_", "OMP_", "MKL_", "OPENBLAS_")


def dropped_by_default(name: str) -> bool:
    """Whether a worker goes without `name` when no allow-list is given."""
    return (
        name in _RUNNER_FILES
        or name.upper().startswith(_RUNNER_PREFIXES)
        or bool(_SECRET.search(name))
    )


def allow_list(environ: Mapping[str, str]) -> list[str] | None:
    """The names (globs) of GRADCHECK_CI_PASS_ENV; None when it is not set (the default: drop
    secrets)."""
    text = environ.get(PASS_ENV)
    if text is None:
        return None
    return [item for item in re.split(r"[\s,]+", text) if item]


def worker_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """What the model's code gets of `environ` (see the module docstring)."""
    allowed = allow_list(environ)
    if allowed is None:
        return {name: value for name, value in environ.items() if not dropped_by_default(name)}
    return {
        name: value
        for name, value in environ.items()
        if name in BASE
        or name.startswith(_BASE_PREFIXES)
        or any(fnmatch.fnmatchcase(name, pattern) for pattern in allowed)
    }
