"""The mends that let Theano's C loop for scan compile on Python 3.11 (gradcheck_ci/platform/
scan_loop.py): each applies exactly once, or nothing is built. The built loop's numbers are checked
against Python's in tests/integration/test_scan_loop.py."""

from __future__ import annotations

import pytest

from gradcheck_ci.platform import scan_loop

SHIPPED_LIKE = "".join(f"/* before */\n{old}/* between */\n" for old, _ in scan_loop.MENDS)


def test_every_mend_applies_once() -> None:
    mended = scan_loop.mended_source(SHIPPED_LIKE)
    for old, new in scan_loop.MENDS:
        assert old not in mended and new in mended


@pytest.mark.parametrize("which", range(len(scan_loop.MENDS)))
def test_a_file_a_mend_does_not_fit_is_not_built(which: int) -> None:
    old, _ = scan_loop.MENDS[which]
    for changed in (SHIPPED_LIKE.replace(old, ""), SHIPPED_LIKE + old):  # missing, twice
        with pytest.raises(ValueError, match="is not there once"):
            scan_loop.mended_source(changed)
