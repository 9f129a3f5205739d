"""Text for the GitHub Actions log that can never start a workflow command.

The runner reads every line a step prints (stdout and stderr) for commands: `::name::` at the start
of a line after leading whitespace, and the older `##[name]` anywhere in a line; CR, LF and CRLF
each end a line (.NET's ReadLine). Under Actions the CLI writes everything through
CommandSafeStream, so user text in any message (a gradcheck.yml key, an exception, a model's own
output) is neutralised; only the commands the console builds itself (report/github.py) go out as
they are, through CommandSafeStream.command().
"""

from __future__ import annotations

import re
from typing import Any, TextIO

# not whitespace to the runner's TrimStart, so it breaks "::" and "##[" and stays invisible
ZWSP = "\u200b"
_LINES = re.compile(r"(\r\n|\r|\n)")
_LEADING_COMMAND = re.compile(r"^(\s*):(?=:)")


def neutralise_line(line: str) -> str:
    line = line.replace("##[", "##" + ZWSP + "[")
    return _LEADING_COMMAND.sub(lambda m: m.group(1) + ":" + ZWSP, line, count=1)


def neutralise(text: str) -> str:
    """`text` with a zero-width space inside every '##[' and every line-leading '::'; line breaks
    kept as they are."""
    parts = _LINES.split(text)
    parts[::2] = [neutralise_line(line) for line in parts[::2]]
    return "".join(parts)


def _line_state(line: str) -> str:
    """The shortest text that neutralises the rest of a line the way `line` would: whether the line
    is still at its start (whitespace and at most one ':' so far), else its last two characters
    (half of a '##[')."""
    stripped = line.lstrip()
    if stripped in ("", ":"):
        return line[:1] + stripped if line[:1].isspace() else stripped
    return "x" + line[-2:]  # "x": not at the line's start any more


class CommandSafeStream:
    """A text stream that neutralises whatever is written to it, even a command split over several
    writes."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self._line = ""  # _line_state of the line written so far (it neutralises to itself)

    def write(self, text: str) -> int:
        if not text:
            return 0
        joined = self._line + text
        # Neutralising only inserts before a character of `text`, so the carried part comes out
        # unchanged.
        self.stream.write(neutralise(joined)[len(self._line) :])
        self._line = _line_state(_LINES.split(joined)[-1])
        return len(text)

    def command(self, line: str) -> None:
        """A workflow command the console built (escaped by report/github.py): written on a line of
        its own."""
        self.stream.write(("\n" if self._line else "") + line + "\n")
        self._line = ""

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        self.stream.flush()

    def isatty(self) -> bool:
        return bool(self.stream.isatty())

    def __getattr__(self, name: str) -> Any:  # encoding, fileno, ... of the stream it wraps
        return getattr(self.stream, name)
