"""The misbehaving-model corpus (tests/fixtures/misbehaving/): models that leave processes behind,
kill, stop or crash their own worker, hang past their timeout, flood or close their output. All of
them in one run, with a good model last: each must get its own verdict of the right kind, with no
traceback and no path of gradcheck-ci's installation, leave no process running, and cost the good
model nothing.

The campaign reports counts: cases tried, clean, failures by kind (all zero). A fast sample runs
with the integration tests; the whole corpus is marked slow (three cases wait for their timeout).
"""

from __future__ import annotations

import collections
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests import FIXTURES, REPO
from tests.harness import run_cli
from tests.integration.test_isolation import still_running
from tests.integration.test_worker_faults import end_sleepers

CORPUS = FIXTURES / "misbehaving"


@dataclass(frozen=True)
class Case:
    factory: str  # a function of models/misbehave.py
    status: str = "pass"
    kind: str | None = None  # the error's kind, for an error
    timeout: float = 120
    # a notice the result must have: its code, and the text of its line in misbehave.py
    notice: tuple[str, str] | None = None

    def notice_at(self) -> str | None:
        if self.notice is None:
            return None
        code, text = self.notice
        lines = (CORPUS / "models" / "misbehave.py").read_text().splitlines()
        return f"{code}@{next(n for n, line in enumerate(lines, 1) if text in line)}"


CASES = [
    Case("tensorboard_in_background"),
    Case("data_server_in_own_session"),
    Case("daemonised_logger"),
    Case("worker_pool_then_hang", "error", "timeout", timeout=8),
    Case("calls_setsid_itself", "error", "load"),
    Case("kills_itself", "error", "killed"),
    Case("segfaults", "error", "crash"),
    Case("exits_hard", "error", "crash"),
    Case("stops_itself", "error", "timeout", timeout=8),
    Case("ignores_sigterm_and_hangs", "error", "timeout", timeout=8),
    Case("allocates_far_too_much", "error", "memory"),
    Case("non_daemon_thread"),
    Case("closes_stdout_and_stderr"),
    Case("closes_inherited_descriptors"),
    Case("floods_the_log"),
    Case("prints_a_megabyte_line"),
    Case("prints_binary_garbage"),
    Case("changes_directory"),
    Case("sets_floatx_to_float16", notice=("precision", 'floatX = "float16"')),
    Case("sets_floatx_to_float32", notice=("precision", 'floatX = "float32"')),
    Case("lowers_the_recursion_limit"),
    Case("debugs_with_theano_flags", notice=("theano-settings", 'compute_test_value = "raise"')),
]
SAMPLE = [
    "tensorboard_in_background",
    "data_server_in_own_session",
    "kills_itself",
    "sets_floatx_to_float16",
    "lowers_the_recursion_limit",
    "prints_a_megabyte_line",
    "debugs_with_theano_flags",
    "closes_inherited_descriptors",
]
SENTINEL = Case("good")


def run_campaign(cases: list[Case], tmp_path: Path) -> tuple[collections.Counter[str], list[str]]:
    """Check `cases` and the good model in one run; failures by kind, and one line per failure."""
    repo = tmp_path / "repo"
    shutil.copytree(CORPUS, repo)
    pids = tmp_path / "pids"
    pids.mkdir()
    entries = "".join(
        f"  - name: {case.factory}\n    factory: models/misbehave.py:{case.factory}\n"
        f"    kwargs: {{pids: {pids}}}\n    timeout: {case.timeout:g}\n"
        for case in [*cases, SENTINEL]
    )
    (repo / "gradcheck.yml").write_text(
        "version: 1\ndefaults:\n  data: {sequences: 4, features: 3}\nmodels:\n" + entries
    )
    started: dict[str, int] = {}
    try:
        run = run_cli("check", "--json", "report.json", cwd=repo, timeout=1800)
        started = {
            path.stem: int(path.read_text())
            for path in pids.glob("*.pid")
            if path.read_text().strip()
        }
        left = set(still_running(list(started.values()), limit=10))
    finally:
        end_sleepers(started)
    results = {model["name"]: model for model in run.json()["models"]}
    failures: collections.Counter[str] = collections.Counter()
    said: list[str] = []

    def fail(kind: str, case: str, detail: str) -> None:
        failures[kind] += 1
        said.append(f"{kind}: {case}: {detail}")

    installation = str(REPO / "gradcheck_ci")
    for case in [*cases, SENTINEL]:
        result = results.get(case.factory)
        if result is None:
            fail("lost", case.factory, "no result")
            continue
        kind = (result.get("error") or {}).get("kind")
        if (result["status"], kind) != (case.status, case.kind):
            fail(
                "verdict",
                case.factory,
                f"{result['status']}/{kind}: {(result.get('error') or {}).get('message')}",
            )
        own = [line for line in run.output.splitlines() if line.startswith(f"[{case.factory}]")]
        if any("Traceback" in line or 'File "' in line for line in own):
            fail(
                "traceback",
                case.factory,
                next(line for line in own if "Traceback" in line or 'File "' in line),
            )
        if any(len(line) > 2200 for line in own):
            fail("long-line", case.factory, f"{max(len(line) for line in own):,} characters")
        noticed = {
            f"{n['code']}@{n['line']}"
            for n in result["notices"]
            if n.get("file") == "models/misbehave.py"
        }
        wanted = case.notice_at()
        if wanted and wanted not in noticed:
            fail("notice", case.factory, f"no {wanted} among {sorted(noticed)}")
        message = (result.get("error") or {}).get("message") or ""
        if installation in message or "site-packages" in message:
            fail("installation-path", case.factory, message)
        leftovers = [
            name for name, pid in started.items() if name.startswith(case.factory) and pid in left
        ]
        if leftovers:
            fail("leftover-process", case.factory, ", ".join(leftovers))
    expected_exit = 2 if any(case.status == "error" for case in cases) else 0
    if run.code != expected_exit:
        fail("exit", "the run", f"exit {run.code}, expected {expected_exit}")
    print(
        f"misbehaving models: {len(cases) + 1} tried, "
        f"{len(cases) + 1 - len({s.split(': ')[1] for s in said})} clean; failures by kind: "
        f"{dict(failures) or 'none'}"
    )
    return failures, said


def test_the_corpus_and_the_table_agree():
    source = (CORPUS / "models" / "misbehave.py").read_text()
    defined = {line[4 : line.index("(")] for line in source.splitlines() if line.startswith("def ")}
    assert defined - {"network", "_sleeper"} == {case.factory for case in [*CASES, SENTINEL]}
    assert set(SAMPLE) <= {case.factory for case in CASES}


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="reads /proc for the processes left")
def test_a_sample_of_misbehaving_models(tmp_path: Path) -> None:
    failures, said = run_campaign([case for case in CASES if case.factory in SAMPLE], tmp_path)
    assert not failures, "\n".join(said)


@pytest.mark.slow
@pytest.mark.skipif(not os.path.isdir("/proc"), reason="reads /proc for the processes left")
def test_every_misbehaving_model(tmp_path: Path) -> None:
    failures, said = run_campaign(CASES, tmp_path)
    assert not failures, "\n".join(said)
