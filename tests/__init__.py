"""gradcheck-ci's tests, in three slices a newcomer can run on their own:

    tests/unit         pure Python: no Theano, no subprocess (conftest.py checks it); seconds
    tests/integration  real Theano, the CLI in subprocesses, workers, external validators; minutes
    tests/container    the action image on a real Docker engine (marked `docker`)

Shared helpers live here: harness.py runs the CLI as users do, samples.py builds RunReports for the
reporters, actions_log.py reads a step's log and files as the GitHub Actions runner does; the
user-like repositories are in fixtures/.
"""

from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "fixtures"
