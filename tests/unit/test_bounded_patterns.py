"""Every pattern run on an exception's text reads a bounded part of it: a message of megabytes made
one pattern in legacy.py quadratic (10 KB: 3 s, 40 KB: 64 s, 5 MB: a timeout). The patterns are
watched, not timed."""

from __future__ import annotations

import re

import pytest

from gradcheck_ci.usercode import blame, legacy, messages

HUGE = 5_000_000
BOUND = 4 * messages.MAX_MESSAGE  # what any pattern may read


class Watched:
    """A regular expression (module or compiled) whose every input length is kept."""

    def __init__(self, target, seen: list[int]) -> None:
        self.target, self.seen = target, seen

    def __getattr__(self, name):
        attribute = getattr(self.target, name)
        if name not in (
            "search",
            "match",
            "fullmatch",
            "sub",
            "subn",
            "findall",
            "finditer",
            "split",
        ):
            return attribute

        def watched(*args, **kwargs):
            texts = [a for a in args if isinstance(a, str)]
            subject = texts[-1] if texts else ""  # the string searched is the last positional text
            self.seen.append(len(subject))
            return attribute(*args, **kwargs)

        return watched


@pytest.fixture
def seen(monkeypatch) -> list[int]:
    lengths: list[int] = []
    for module in (legacy, blame, messages):
        monkeypatch.setattr(module, "re", Watched(re, lengths))
        for name in dir(module):
            if isinstance(getattr(module, name), re.Pattern):
                monkeypatch.setattr(module, name, Watched(getattr(module, name), lengths))
    return lengths


def raised(kind: type[BaseException], text: str) -> BaseException:
    try:
        raise kind(text)
    except BaseException as exc:  # noqa: BLE001 - the exception itself is the input
        return exc


@pytest.mark.parametrize("kind", [ValueError, TypeError, AttributeError, ImportError, NameError])
@pytest.mark.parametrize("fill", ["a", "1", "[1 ", "('a", "x.__init__() got "])
def test_a_message_of_megabytes_reaches_no_pattern_whole(seen, kind, fill, tmp_path):
    exc = raised(kind, fill * (HUGE // len(fill)))
    error = blame.user_code_error(
        exc, str(tmp_path), "building model 'net'", fallback=("gradcheck.yml", 4)
    )
    for explain in (
        legacy.python2_runtime,
        legacy.lasagne_master,
        legacy.gpu,
        legacy.python3_division,
    ):
        explain(exc)
    messages.error_summary(exc)
    assert seen and max(seen) <= BOUND
    assert len(error.message) <= messages.MAX_MESSAGE + 100 and (error.file, error.line) == (
        "gradcheck.yml",
        4,
    )


def test_an_exception_whose_str_fails_still_has_a_text():
    class Broken(Exception):
        def __str__(self) -> str:
            raise RuntimeError("no")

    assert legacy.exception_text(Broken()) == "(a Broken whose message cannot be shown)"
