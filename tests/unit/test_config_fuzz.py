"""A fast sample of the config fuzzer (tests/config_fuzzer.py; the full campaign: python -m
benchmarks.config_fuzz): every variant of a valid gradcheck.yml gets a clean answer from `validate`
under GitHub Actions."""

from __future__ import annotations

from tests.config_fuzzer import BASE, campaign, judge, mutate


def test_a_sample_of_variants_is_all_clean():
    tally = campaign(120, seed=0)
    print(tally.report())  # shown with -s, and in the failure below
    assert tally.tried == 120 and not tally.failures, (tally.report(), tally.examples)
    assert tally.valid and tally.clean - tally.valid  # both outcomes were reached


def test_the_base_is_valid_and_the_judge_catches_what_the_trial_found(tmp_path):
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "tagger.py").write_text(
        "def build():\n    pass\n\n\ndef build_classifier():\n    pass\n"
    )
    assert judge(BASE.encode(), str(tmp_path)) == ([], True)
    seed_too_large = BASE.replace("seed: 7", "seed: 4294967296").encode()
    assert judge(seed_too_large, str(tmp_path)) == ([], False)  # refused, with its line


def test_variants_are_seeded():
    import random

    assert mutate(BASE, random.Random(5)) == mutate(BASE, random.Random(5))
