"""Joint ablations and `allow:`, end to end on a bidirectional tagger
(tests/fixtures/diagnose/allow): a cause in both directions is confirmed by switching it off in both
at once, with the layers that matter named; an allowed cause passes the model with its proof, and a
real bug beside it still fails."""

from __future__ import annotations

import pytest

from tests.integration.test_diagnose import assert_at, checked, line_of

pytestmark = pytest.mark.slow


def diagnoses(model: dict, code: str) -> list[dict]:
    return [d for d in model["diagnoses"] if d["code"] == code]


def test_clipping_in_both_directions_is_confirmed_by_one_joint_ablation():
    model = checked("allow").model("bidirectional-clipped")
    assert model["status"] == "fail"
    found = diagnoses(model, "gradient-clipping")
    assert sorted(d["layer"] for d in found) == ["RecurrentLayer#0", "RecurrentLayer#1"]
    assert all(d["confirmed"] is True for d in found), [d["message"] for d in found]
    assert_at(found[0], "allow", "models/tagger.py", "l_fwd = RecurrentLayer(")
    assert_at(found[1], "allow", "models/tagger.py", "l_bwd = RecurrentLayer(")
    for d in found:
        assert d["evidence"]["ablation"] == (
            "grad_clipping=False in RecurrentLayer#0 and RecurrentLayer#1"
        )
        # put back one layer at a time: each layer's own tensors fail again, so both matter
        assert d["evidence"]["layers"]["RecurrentLayer#0"]["matters"] is True
        assert d["evidence"]["layers"]["RecurrentLayer#1"]["matters"] is True
        assert "not confirmed" not in d["message"] and "something else is wrong" not in d["message"]


def test_an_allowed_cause_passes_the_model_with_its_proof():
    run = checked("allow")
    model = run.model("bidirectional-truncated-allowed")
    assert model["status"] == "pass", model
    statuses = {p["id"]: p["status"] for p in model["params"]}
    assert {k for k, v in statuses.items() if v == "allowed"} == {
        f"RecurrentLayer#{i}.{name}"
        for i in (0, 1)
        for name in ("W_in_to_hid", "b", "W_hid_to_hid")
    }
    assert statuses["DenseLayer#0.W"] == "pass"
    [allowed] = model["allowed"]
    assert allowed["codes"] == ["truncated-bptt"] and allowed["layers"] == [
        "RecurrentLayer#0",
        "RecurrentLayer#1",
    ]
    assert allowed["evidence"]["still_failing"] == [] and allowed["ablation"].startswith(
        "gradient_steps=-1 in"
    )
    [notice] = model["notices"]
    assert (
        notice["code"] == "allowed-cause"
        and "differ from finite differences only because of" in notice["message"]
    )
    for d in diagnoses(model, "truncated-bptt"):
        assert d["evidence"]["allowed"] is True
        assert d["fix"] == "none: the model allows it (`allow: [truncated-bptt]`)"


def test_a_real_bug_beside_an_allowed_cause_still_fails_and_is_located():
    model = checked("allow").model("bidirectional-truncated-allowed-and-a-bug")
    assert model["status"] == "fail"
    failing = [p["id"] for p in model["params"] if p["status"] == "fail"]
    assert failing == ["Bias#0.b"]
    assert sum(p["status"] == "allowed" for p in model["params"]) == 6
    [wrong] = diagnoses(model, "wrong-backward")
    # localised with the allowed truncation switched off: the bug's own layer, not a recurrent one
    assert wrong["layer"] == "Bias#0"
    assert_at(wrong, "allow", "models/tagger.py", "l_bias = Bias(")
    assert "still fails for another reason" in model["notices"][0]["message"]


def test_allowing_a_cause_the_model_does_not_have_changes_nothing():
    model = checked("allow").model("clipped-but-truncation-allowed")
    assert model["status"] == "fail" and model["allowed"] == [] and model["notices"] == []
    assert all(p["status"] != "allowed" for p in model["params"])


def test_the_allowed_notice_is_at_the_allowed_cause_not_at_the_first_tensor_it_covers():
    model = checked("allow-embedded").model("lm-truncated-allowed")
    assert model["status"] == "pass", model
    allowed = [p["id"] for p in model["params"] if p["status"] == "allowed"]
    assert allowed[0] == "EmbeddingLayer#0.W"  # first in graph order, but not the cause
    [notice] = [n for n in model["notices"] if n["code"] == "allowed-cause"]
    assert_at(notice, "allow-embedded", "models/lm.py", "l_rnn = RecurrentLayer(")


def test_a_clip_to_zero_is_not_covered_by_allowing_clipping():
    # Lasagne 0.1's grad_clipping=0 zeroes every gradient through the layer: allowing clipping (a
    # bound on the backward message) must not turn that into a pass.
    model = checked("allow", "--model", "clipped-to-zero-allowed").model("clipped-to-zero-allowed")
    assert model["status"] == "fail", model
    assert model["allowed"] == [] and all(p["status"] != "allowed" for p in model["params"])
    found = diagnoses(model, "gradient-clipping")
    assert found and all(d["confirmed"] and "allowed" not in d["evidence"] for d in found)
    [notice] = [n for n in model["notices"] if n["code"] == "allow-not-applied"]
    allow_line = line_of("allow", "gradcheck.yml", "allow: [gradient-clipping]")
    assert (notice["file"], notice["line"]) == ("gradcheck.yml", allow_line)
    assert notice["message"].startswith(
        "allow: [gradient-clipping] does not cover RecurrentLayer#0, RecurrentLayer#1: a clip "
        "to [0, 0] zeroes every gradient through its layer"
    )
