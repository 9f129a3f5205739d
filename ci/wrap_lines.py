"""Wrap what `ruff format` leaves longer than the line length: comments, docstrings, string
literals.

`make format` runs `ruff format` and then this. ruff keeps comments and strings as written; this
breaks them at a space: a comment's overflow goes into the next comment line of the same paragraph
(or a new one), a docstring's likewise, and a long string literal becomes adjacent literals (Python
joins them when it compiles, so the program is unchanged: each rewritten file is checked to compile
to the same syntax tree, docstrings compared without their line breaks, and left alone otherwise). A
trailing comment that overflows moves onto its own line above its code. Lines that still overflow
are printed for a person to shorten.

    python ci/wrap_lines.py [--length N] PATH...
"""

from __future__ import annotations

import argparse
import ast
import io
import re
import sys
import tokenize
import tomllib
from pathlib import Path

PRAGMA = re.compile(r"#\s*(noqa|type:|pragma|pylint|fmt:)")
BULLET = re.compile(r"^(\s*)([-*]|\d+\.|\(\w\))\s+")


def split_at_space(text: str, room: int) -> int | None:
    """The index of the last space at or before `room` (not in the leading indent), else None."""
    indent = len(text) - len(text.lstrip())
    cut = text.rfind(" ", indent + 1, room + 1)
    return cut if cut > indent else None


def preformatted(text: str) -> bool:
    """Whether a line is laid out by hand (table columns, aligned code): spaces in a row inside."""
    return "  " in text.strip()


def continues_paragraph(line: str, prefix: str) -> bool:
    """Whether `line` carries on the paragraph of the line above it (same prefix, text, no list
    marker)."""
    if not line.startswith(prefix) or preformatted(line.lstrip().lstrip("#")):
        return False
    rest = line[len(prefix) :]
    return (
        bool(rest.strip())
        and not rest[0].isspace()
        and not BULLET.match(rest)
        and not rest.startswith('"""')
    )


def wrap_block(
    lines: list[str], index: int, prefix: str, length: int, lead: int | None = None
) -> None:
    """Break lines[index] (and the lines its overflow pushes on) at spaces; `prefix` starts every
    line after the first, whose text starts at column `lead` (default: after `prefix` too)."""
    start = len(prefix) if lead is None else lead
    while index < len(lines) and len(lines[index]) > length:
        line = lines[index]
        if preformatted(line[start:]):  # left for a person: wrapping would break its layout
            return
        cut = split_at_space(line[start:], length - start)
        if cut is None:
            return
        cut += start
        head, tail = line[:cut].rstrip(), line[cut + 1 :].strip()
        marker = BULLET.match(line[start:])
        hanging = prefix + " " * (marker.end() if marker else 0)
        lines[index] = head
        following = lines[index + 1] if index + 1 < len(lines) else None
        if (
            following is not None
            and continues_paragraph(following, hanging)
            and not tail.endswith('"""')
        ):
            lines[index + 1] = hanging + tail + " " + following[len(hanging) :]
        else:
            lines.insert(index + 1, hanging + tail)
        index, start = index + 1, len(hanging)


def comment_lines(source: str) -> dict[int, tuple[int, str]]:
    """Line number (0-based) -> (column, text) of every comment token."""
    found = {}
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            found[token.start[0] - 1] = (token.start[1], token.string)
    return found


def docstring_lines(source: str) -> set[int]:
    """0-based numbers of the lines inside docstrings, after their first line."""
    inside: set[int] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                if isinstance(body[0].value.value, str):
                    start, end = body[0].lineno - 1, (body[0].end_lineno or body[0].lineno) - 1
                    inside.update(range(start, end + 1))
    return inside


def lift_trailing_comments(source: str, length: int) -> str:
    """A trailing comment on a line too long moves onto its own line above the code (pragmas
    stay)."""
    lines = source.split("\n")
    for number, (column, text) in sorted(comment_lines(source).items(), reverse=True):
        line = lines[number]
        code = line[:column].rstrip()
        if len(line) > length and code and not PRAGMA.search(text):
            indent = line[: len(line) - len(line.lstrip())]
            lines[number : number + 1] = [indent + text, code]
    return "\n".join(lines)


def wrap_comments_and_docstrings(source: str, length: int) -> str:
    lines = lift_trailing_comments(source, length).split("\n")
    comments, docs = comment_lines("\n".join(lines)), docstring_lines("\n".join(lines))
    number = 0
    while number < len(lines):
        line = lines[number]
        stripped = line.lstrip()
        indent = line[: len(line) - len(stripped)]
        before = len(lines)
        if len(line) <= length:
            pass
        elif number in comments and comments[number][0] == len(indent) and not PRAGMA.search(line):
            wrap_block(lines, number, indent + "# ", length)
        elif number in docs and stripped.startswith('"""'):
            wrap_block(lines, number, indent, length, lead=len(indent) + 3)
        elif number in docs:
            wrap_block(lines, number, indent, length)
        if len(lines) != before:  # line numbers moved: map them again
            source = "\n".join(lines)
            comments, docs = comment_lines(source), docstring_lines(source)
        number += 1
    return "\n".join(lines)


def literal_parts(token: str) -> tuple[str, str, str] | None:
    """(prefix, quote, body) of a one-line, single-quoted literal; None for a triple-quoted one."""
    match = re.match(r"([rRbBuUfF]{0,2})('|\")", token)
    if not match or token[len(match.group(0)) :].startswith(match.group(2) * 2):
        return None
    return match.group(1), match.group(2), token[len(match.group(0)) : -1]


def first_overflow(
    source: str, length: int, skip: set[tuple[int, int]]
) -> tuple[tokenize.TokenInfo, int, tokenize.TokenInfo | None] | None:
    """The first string literal ending past `length`, the bracket depth it is at, and the literal
    that continues it on the next line (adjacent literals, joined by Python) if there is one."""
    docs = docstring_lines(source)
    depth = 0
    tokens = [
        t for t in tokenize.generate_tokens(io.StringIO(source).readline) if t.type != tokenize.NL
    ]
    for i, token in enumerate(tokens):
        if token.type == tokenize.OP and token.string in "([{":
            depth += 1
        elif token.type == tokenize.OP and token.string in ")]}":
            depth -= 1
        if (
            token.type != tokenize.STRING
            or token.start[0] != token.end[0]
            or token.end[1] <= length
        ):
            continue
        if token.start in skip or token.start[0] - 1 in docs or literal_parts(token.string) is None:
            continue
        following = tokens[i + 1] if i + 1 < len(tokens) else None
        joined = (
            following is not None
            and following.type == tokenize.STRING
            and following.start[0] == token.start[0] + 1
            and following.start[0] == following.end[0]
            and literal_parts(following.string) is not None
        )
        return token, depth, following if joined else None
    return None


def split_literal(token: str, room: int) -> tuple[str, str] | None:
    """`token` cut at a space (outside f-string braces) so that its first piece fits in `room`
    characters: (first literal, the rest's body); None if it cannot be."""
    parts = literal_parts(token)
    if parts is None:
        return None
    prefix, quote, body = parts
    is_f, is_raw = "f" in prefix.lower(), "r" in prefix.lower()
    depth, candidates, i = 0, [], 0
    while i < len(body):
        char = body[i]
        if char == "\\" and not is_raw:
            i += 2
            continue
        if is_f and char in "{}":
            if body[i : i + 2] in ("{{", "}}"):
                i += 2
                continue
            depth += 1 if char == "{" else -1
        elif char == " " and depth == 0 and i > 0:
            candidates.append(i)
        i += 1
    limit = room - len(prefix) - 2
    fitting = [c for c in candidates if c + 1 <= limit and c + 1 < len(body)]
    if not fitting:
        return None
    cut = fitting[-1] + 1  # the space stays on the first piece
    return prefix + quote + body[:cut] + quote, body[cut:]


def wrap_strings(source: str, length: int) -> str:
    """Cut string literals that end past `length`: the overflow moves into the literal that
    continues it on the next line when there is one of the same kind, else into a new adjacent
    literal (in the brackets it is in, or in parentheses added around it)."""
    lines = source.split("\n")
    skipped: set[tuple[int, int]] = set()
    for _ in range(10000):
        found = first_overflow("\n".join(lines), length, skipped)
        if found is None:
            break
        token, depth, following = found
        row, column, end = token.start[0] - 1, token.start[1], token.end[1]
        cut = split_literal(token.string, length - column - (0 if depth else 1))
        if cut is None:  # left as it is: a person shortens it
            skipped.add(token.start)
            continue
        first, rest = cut
        prefix, quote, _ = literal_parts(token.string) or ("", '"', "")
        line = lines[row]
        following_parts = literal_parts(following.string) if following else None
        if following and following_parts and following_parts[:2] == (prefix, quote):
            next_row, next_column = following.start[0] - 1, following.start[1]
            lines[row] = line[:column] + first + line[end:]
            nxt = lines[next_row]
            lines[next_row] = (
                nxt[:next_column] + prefix + quote + rest + nxt[next_column + len(prefix) + 1 :]
            )
        elif depth:
            lines[row] = (
                line[:column]
                + first
                + "\n"
                + " " * column
                + prefix
                + quote
                + rest
                + quote
                + line[end:]
            )
        else:
            second = " " * (column + 1) + prefix + quote + rest + quote
            lines[row] = line[:column] + "(" + first + "\n" + second + ")" + line[end:]
        lines = "\n".join(lines).split("\n")
    return "\n".join(lines)


def normalised(tree: ast.Module) -> str:
    """The tree's dump with every docstring's whitespace runs made one space; all else exact."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            first = node.body[0] if node.body else None
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                if isinstance(first.value.value, str):
                    first.value.value = " ".join(first.value.value.split())
    return ast.dump(tree)


def same_program(before: str, after: str) -> bool:
    try:
        a, b = ast.parse(before), ast.parse(after)
    except SyntaxError:
        return False
    return normalised(a) == normalised(b)


def wrap_file(path: Path, length: int) -> tuple[bool, list[int]]:
    """Rewrite `path` in place; (changed, the 1-based lines still too long)."""
    original = path.read_text()
    text = wrap_comments_and_docstrings(original, length)
    text = wrap_strings(text, length)
    changed = text != original
    if changed and not same_program(original, text):
        print(
            f"{path}: left alone (the wrapped text would not compile to the same program)",
            file=sys.stderr,
        )
        text, changed = original, False
    if changed:
        path.write_text(text)
    return changed, [n for n, line in enumerate(text.split("\n"), 1) if len(line) > length]


def excluded() -> list[str]:
    """What ruff leaves alone (pyproject.toml's extend-exclude), left alone here too."""
    with open(Path(__file__).resolve().parent.parent / "pyproject.toml", "rb") as f:
        return [".venv", ".git"] + list(tomllib.load(f)["tool"]["ruff"].get("extend-exclude", []))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("paths", nargs="+", type=Path)
    parser.add_argument("--length", type=int, default=100)
    args = parser.parse_args(argv)
    skip = excluded()
    files = [f for p in args.paths for f in ([p] if p.is_file() else sorted(p.rglob("*.py")))]
    for path in files:
        if any(path.as_posix() == s or path.as_posix().startswith(s + "/") for s in skip):
            continue
        _, long = wrap_file(path, args.length)
        # ruff's E501 forgives pragma lines and unbreakable words: it is the judge
        for number in long:
            print(f"{path}:{number}: longer than {args.length}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
