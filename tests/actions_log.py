"""How the GitHub Actions runner reads a step: the workflow commands in its log (none between
::stop-commands::TOKEN and ::TOKEN::) and the name=value / name<<DELIMITER blocks of $GITHUB_OUTPUT.

Shared by the entrypoint's unit tests and the container tests, so both judge output the way the
runner does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

REGISTERED = {
    "error",
    "warning",
    "notice",
    "debug",
    "group",
    "endgroup",
    "stop-commands",
    "add-mask",
    "set-output",
    "save-state",
    "set-env",
    "add-path",
    "echo",
    "add-matcher",
    "remove-matcher",
}


def runner_lines(output: str) -> list[str]:
    # The runner reads the log with .NET's ReadLine: CR, LF and CRLF end a line.
    return re.split(r"\r\n|\r|\n", output)


def parse_v2(line: str):
    """The runner's ActionCommand.TryParseV2, ported: (command, properties, data) or None."""
    line = line.lstrip()
    if not line.startswith("::"):
        return None
    end = line.find("::", 2)
    if end < 0:
        return None
    info = line[2:end]
    name, _, props_text = info.partition(" ")
    props = {}
    for pair in filter(None, props_text.strip().split(",")):
        key, sep, value = pair.partition("=")
        if sep and key and value:
            for token, repl in (
                ("\r", "%0D"),
                ("\n", "%0A"),
                (":", "%3A"),
                (",", "%2C"),
                ("%", "%25"),
            ):
                value = value.replace(repl, token)
            props[key] = value
    data = line[end + 2 :]
    for token, repl in (("\r", "%0D"), ("\n", "%0A"), ("%", "%25")):
        data = data.replace(repl, token)
    return name, props, data


def parsed_as_command(line: str, registered=REGISTERED) -> bool:
    v2 = parse_v2(line)
    if v2 and v2[0].lower() in registered:
        return True
    return "##[" in line  # the legacy parser looks for "##[" anywhere in a line


COMMAND = re.compile(r"^::([A-Za-z-]+)(?: ([^:]*))?::(.*)$")


def unescape(text: str) -> str:
    return (
        text.replace("%0D", "\r")
        .replace("%0A", "\n")
        .replace("%3A", ":")
        .replace("%2C", ",")
        .replace("%25", "%")
    )


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
    """$GITHUB_OUTPUT as the runner reads it: `name=value` lines and `name<<DELIM` ... `DELIM`
    blocks."""
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
