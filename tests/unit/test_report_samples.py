"""The shared sample reports (tests/samples.py) cover what the reporter tests rely on."""

from tests.samples import sample_report


def test_samples_cover_every_status():
    statuses = {m.status for m in sample_report().models}
    assert statuses == {"pass", "fail", "expected-fail", "error", "cancelled"}
    assert sample_report().status == "error" and sample_report().exit_code == 2
