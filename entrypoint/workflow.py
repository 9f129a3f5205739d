"""The GitHub Actions runner's side of the container: workflow commands and file commands.

Kept free of gradcheck_ci imports so the adapter can report a broken install, and small enough to read
in one go. Escaping follows the runner's own rules (actions/toolkit `command.ts`): in data `%` first,
then CR and LF; in properties also `:` and `,`.
"""
from __future__ import annotations

import os
import secrets
from typing import Mapping, TextIO


def escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def command(name: str, message: str = "", **properties: object) -> str:
    """`::name k=v,...::message`, with every part escaped; properties that are None are left out."""
    props = ",".join(
        f"{key}={escape_property(str(value))}" for key, value in properties.items() if value is not None
    )
    return f"::{name}{' ' + props if props else ''}::{escape_data(message)}"


def error(message: str, out: TextIO, **properties: object) -> None:
    print(command("error", message, **properties), file=out, flush=True)


def output_block(name: str, value: str) -> str:
    """One `name<<DELIM` ... `DELIM` entry for $GITHUB_OUTPUT, with a random delimiter not in the value."""
    while True:
        delimiter = f"ghadelimiter_{secrets.token_hex(16)}"
        if delimiter not in value and delimiter not in name:
            return f"{name}<<{delimiter}\n{value}\n{delimiter}\n"


def write_outputs(outputs: Mapping[str, str], environ: Mapping[str, str] | None = None) -> bool:
    """Append the outputs to $GITHUB_OUTPUT; False (and nothing written) when the runner gave no file."""
    environ = os.environ if environ is None else environ
    path = environ.get("GITHUB_OUTPUT")
    if not path:
        return False
    with open(path, "a", encoding="utf-8") as handle:
        for name, value in outputs.items():
            handle.write(output_block(name, value))
    return True


def append_summary(markdown: str, environ: Mapping[str, str] | None = None) -> bool:
    environ = os.environ if environ is None else environ
    path = environ.get("GITHUB_STEP_SUMMARY")
    if not path:
        return False
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(markdown if markdown.endswith("\n") else markdown + "\n")
    return True


def file_size(path: str | None) -> int:
    try:
        return os.path.getsize(path) if path else -1
    except OSError:
        return -1
