"""The sign of life while a step runs silent (output.Ticker, Console.tick), on a clock the test
moves."""

from __future__ import annotations

import io

from gradcheck_ci.commands.console import LOG_EVERY, TTY_AFTER, Console, Ticker


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Spec:
    name, seed, precision, factory = "tagger", 0, "float64", "models/tagger.py:build"


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def console(stream: io.StringIO) -> tuple[Console, Clock]:
    clock = Clock()
    out = Console(stream, clock=clock, ticking=False)
    out.model_start(Spec())
    out.progress("tagger", "compiling loss and gradient (Theano)")
    return out, clock


def test_a_log_gets_one_line_per_silent_interval_and_never_more_than_one_a_second():
    stream = io.StringIO()
    out, clock = console(stream)
    printed = []
    for _ in range(int(4 * LOG_EVERY)):  # once a second, as the ticking thread does
        clock.now += 1.0
        before = stream.getvalue().count("\n")
        out.tick()
        printed.append(stream.getvalue().count("\n") - before)
    lines = [line for line in stream.getvalue().splitlines() if "still" in line]
    assert len(lines) == 4 and max(printed) == 1
    assert lines[0] == "[tagger]   15.0s  still compiling loss and gradient (Theano): 15s so far"
    assert lines[-1].endswith(": 60s so far")


def test_a_progress_line_restarts_the_silence():
    stream = io.StringIO()
    out, clock = console(stream)
    clock.now += LOG_EVERY - 1
    out.tick()
    out.progress("tagger", "analytic gradient")
    clock.now += LOG_EVERY - 1
    out.tick()
    assert "still" not in stream.getvalue()
    clock.now += 1
    out.tick()
    assert "still analytic gradient: 15s so far" in stream.getvalue()


def test_a_terminal_gets_a_status_line_rewritten_in_place_and_cleared_before_the_next_line():
    stream = Tty()
    out, clock = console(stream)
    clock.now += TTY_AFTER - 0.5
    out.tick()
    assert "\r" not in stream.getvalue()
    for _ in range(3):
        clock.now += 1.0
        out.tick()
    text = stream.getvalue()
    assert text.count("\r\033[K[tagger]") == 3 and text.endswith(
        "compiling loss and gradient (Theano) (4s)"
    )
    assert not text.endswith("\n")  # a status line, not a log line
    out.progress("tagger", "analytic gradient")
    assert stream.getvalue().endswith("\r\033[K[tagger]    4.5s  analytic gradient\n")


def test_nothing_ticks_between_models_or_when_quiet():
    stream = io.StringIO()
    out, clock = console(stream)
    out.ticker.stop()
    clock.now += 10 * LOG_EVERY
    out.tick()
    assert "still" not in stream.getvalue()
    assert Console(io.StringIO(), quiet=True)._ticking is False


def test_a_status_line_fits_the_terminal():
    ticker = Ticker(tty=True, width=40)
    ticker.start("a-model-with-a-long-name", 0.0)
    ticker.progress("diagnosis: compiling the layer-by-layer gradient function (Theano)", 0.0)
    line = ticker.tick(10.0)
    assert line is not None and len(line) == 39


def test_quiet_prints_no_headers_only_results():
    stream = io.StringIO()
    out = Console(stream, quiet=True, ticking=False)
    out.start(3, "gradcheck.yml")
    out.note("gradcheck-ci: compile cache ~/.cache/gradcheck-ci/theano: 12 compiled module(s)")
    out.model_start(Spec())
    out.progress("tagger", "compiling loss and gradient (Theano)")
    assert stream.getvalue() == ""
    out.note("the cache directory is not writable", warning=True)
    assert stream.getvalue() == "the cache directory is not writable\n"
