"""How the GitHub Actions runner reads a step: the workflow commands in its log (none between
::stop-commands::TOKEN and ::TOKEN::) and the name=value / name<<DELIMITER blocks of $GITHUB_OUTPUT.

Shared by the entrypoint's unit tests and the container tests, so both judge output the way the runner does.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

COMMAND = re.compile(r"^::([A-Za-z-]+)(?: ([^:]*))?::(.*)$")


def unescape(text: str) -> str:
    return (text.replace("%0D", "\r").replace("%0A", "\n").replace("%3A", ":").replace("%2C", ",")
            .replace("%25", "%"))


@dataclass
class Command:
    name: str
    properties: dict[str, str]
    message: str
    raw: str


def effective_commands(log: str) -> list[Command]:
    """The workflow commands the runner would act on: none between ::stop-commands::T and ::T::."""
    commands: list[Command] = []
    stop_token: str | None = None
    for line in log.splitlines():
        if stop_token is not None:
            if line.strip() == f"::{stop_token}::":
                stop_token = None
            continue
        match = COMMAND.match(line.strip())
        if not match:
            continue
        name, props_text, message = match.group(1), match.group(2) or "", match.group(3)
        if name == "stop-commands":
            stop_token = message
            continue
        props: dict[str, str] = {}
        for item in filter(None, props_text.split(",")):
            key, _, value = item.partition("=")
            props[key] = unescape(value)
        commands.append(Command(name, props, unescape(message), line))
    return commands


def parse_output_file(text: str) -> dict[str, str]:
    """$GITHUB_OUTPUT as the runner reads it: `name=value` lines and `name<<DELIM` ... `DELIM` blocks."""
    outputs: dict[str, str] = {}
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delimiter = line.split("<<", 1)
            value_lines = []
            i += 1
            while lines[i] != delimiter:
                value_lines.append(lines[i])
                i += 1
            outputs[name] = "\n".join(value_lines)
        elif "=" in line:
            name, value = line.split("=", 1)
            outputs[name] = value
        i += 1
    return outputs
