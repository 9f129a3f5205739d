"""Load and validate gradcheck.yml (format version 1; reference: docs/config.md).

The loader reads YAML as a node tree (`yaml.compose`), not as plain Python data, so every value
keeps its line and column: problems point at the exact spot, and the engine can point a finding at,
say, the `gradient_steps:` line of a model's kwargs.

Two kinds of failure:
- `ConfigError` (raised): nothing usable can be read — a missing or unreadable file, bad bytes, a
  YAML syntax error, no `version: 1`, no `models` list.
- `ConfigProblem` (collected in `Config.problems`): everything else. A model entry with a problem is
  left out of `Config.models`; the other models still run. A problem in `defaults` is file-level and
  the built-in default is used for that key.

The modules, bottom to top: spec (what reading produces), source (bytes -> YAML node tree), nodes
(walking the tree), readers, references and kwargs (typed values), keys (the key table), reader (the
walk over the top level, defaults and models).

This package must stay importable without Theano, Lasagne or numpy: `gradcheck-ci validate` uses it
alone.
"""

from __future__ import annotations

from ..core.losses import BUILTIN_LOSSES
from .keys import (
    CONFIG_VERSION,
    DATA_KEYS,
    DEFAULT_MEMORY,
    DEFAULT_TIMEOUT,
    DEFAULTS_KEYS,
    EXPECTS,
    KEYS,
    MASKS,
    MIN_MEMORY,
    MODEL_KEYS,
    MODES,
    PRECISIONS,
    TOP_KEYS,
    Key,
)
from .reader import load_config
from .readers import MAX_NAME_LENGTH
from .spec import (
    Config,
    ConfigError,
    ConfigProblem,
    DataSpec,
    ModelSpec,
    format_problem,
    format_problems,
    resolve_factory,
    resolve_reference,
)

__all__ = [
    "BUILTIN_LOSSES",
    "CONFIG_VERSION",
    "DATA_KEYS",
    "DEFAULT_MEMORY",
    "DEFAULT_TIMEOUT",
    "DEFAULTS_KEYS",
    "EXPECTS",
    "KEYS",
    "MASKS",
    "MAX_NAME_LENGTH",
    "MIN_MEMORY",
    "MODEL_KEYS",
    "MODES",
    "PRECISIONS",
    "TOP_KEYS",
    "Config",
    "ConfigError",
    "ConfigProblem",
    "DataSpec",
    "Key",
    "ModelSpec",
    "format_problem",
    "format_problems",
    "load_config",
    "resolve_factory",
    "resolve_reference",
]
