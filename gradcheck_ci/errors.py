"""The error a model's check stops with when the model cannot be checked, located where its cause is.

Foundation layer: imports nothing from the package, so every layer above can raise it.
"""
from __future__ import annotations


class ModelLoadError(Exception):
    """A model that cannot be checked: the message, and the file and line to blame (the user's code for
    things their code did, gradcheck.yml for things the config did). `kind` is ErrorInfo.kind."""

    def __init__(self, message: str, file: str | None = None, line: int | None = None, kind: str = "load"):
        super().__init__(message)
        self.message = message
        self.file = file
        self.line = line
        self.kind = kind
