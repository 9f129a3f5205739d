"""A diagnosis that stops on an error of its own leaves one sentence in the report
(`extra.diagnosis_error`), never a traceback with the installation's paths; the traceback goes to
the log, only with GRADCHECK_CI_DEBUG."""

from __future__ import annotations

import os
from types import SimpleNamespace

import numpy as np

import gradcheck_ci
from gradcheck_ci import diagnose
from gradcheck_ci.core.results import ModelResult
from gradcheck_ci.diagnose.stopped import stopped_notices
from gradcheck_ci.engine.settings import settings_of
from gradcheck_ci.report.text import render_model
from tests.samples import model, param, spec


def _context(tmp_path) -> SimpleNamespace:
    result = ModelResult(
        name="net",
        factory="models/net.py:build",
        status="error",
        seed=0,
        precision="float64",
        mode="full",
        loss_value=float("inf"),
    )
    return SimpleNamespace(
        model=None,
        spec=spec(),
        settings=settings_of(spec()),
        result=result,
        root=str(tmp_path),
        compiled=SimpleNamespace(precision="float64"),
    )


# a bug met on the way, deep in numpy, as the trial met one
def _broken_stage(session, found) -> None:
    np.dot(np.zeros((4, 3)), np.zeros((18, 4)))


def test_the_report_gets_one_sentence(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("GRADCHECK_CI_DEBUG", raising=False)
    monkeypatch.setattr(diagnose, "_run", _broken_stage)
    context = _context(tmp_path)
    assert diagnose.diagnose(context) == []
    message = context.result.extra.diagnosis_error or ""
    assert message.startswith(
        "the diagnosis stopped early: ValueError: shapes (4,3) and (18,4) not aligned"
    )
    assert "\n" not in message and "Traceback" not in message
    assert os.path.dirname(gradcheck_ci.__file__) not in message and "site-packages" not in message
    assert capsys.readouterr().err == ""


def test_the_traceback_goes_to_the_log_with_debug(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("GRADCHECK_CI_DEBUG", "1")
    monkeypatch.setattr(diagnose, "_run", _broken_stage)
    context = _context(tmp_path)
    diagnose.diagnose(context)
    message = context.result.extra.diagnosis_error
    assert message is not None and "Traceback" not in message
    assert "Traceback" in capsys.readouterr().err


def test_every_format_says_the_diagnosis_stopped_instead_of_no_known_cause(tmp_path, monkeypatch):
    monkeypatch.delenv("GRADCHECK_CI_DEBUG", raising=False)
    monkeypatch.setattr(diagnose, "_run", _broken_stage)
    context = _context(tmp_path)
    context.config_file = "gradcheck.yml"
    context.result.status = "fail"
    context.result.params = [param("DenseLayer#0.W", "fail", abs_err=0.1, rel=0.9)]
    diagnose.record_diagnoses(context)
    [notice] = context.result.notices
    assert (notice.code, notice.file, notice.line) == ("diagnosis-stopped", "gradcheck.yml", 3)
    assert notice.message.startswith("the diagnosis stopped early: ValueError: shapes (4,3)")
    text = render_model(context.result)
    assert "notice diagnosis-stopped at gradcheck.yml:3" in text
    assert "no known cause matched" not in text


def test_a_failed_proof_of_an_allow_is_one_sentence_at_the_allow_key():
    result = model("net", "fail")
    result.extra.allow_error = "the ablation that proves `allow:` stopped early: RuntimeError: x"
    allowing = spec(allow=["truncated-bptt"], line=4, key_lines={"allow": 7})
    [notice] = stopped_notices(result, allowing, "gradcheck.yml")
    assert (notice.code, notice.file, notice.line) == ("diagnosis-stopped", "gradcheck.yml", 7)
    assert "keep their verdict" in notice.message
