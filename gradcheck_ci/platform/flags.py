"""THEANO_FLAGS as text and as a mapping: the worker merges the check's flags into the user's."""

from __future__ import annotations


def parse_flags(text: str) -> dict[str, str]:
    flags: dict[str, str] = {}
    for item in text.split(","):
        if "=" in item:
            key, value = item.split("=", 1)
            flags[key.strip()] = value.strip()
    return flags


def format_flags(flags: dict[str, str]) -> str:
    return ",".join(f"{key}={value}" for key, value in flags.items())
