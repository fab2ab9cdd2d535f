"""A run is bounded in time: a hanging test costs the per-test timeout, the whole run its ``--timeout``.

Attacks: a repository whose suite holds a test that never returns (before: each suite run in the
sandbox waited for the 300 s container limit); a run that would take longer than the operator
allows (before: no bound at all).
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from crew.flow import run_stages, to_report
from tests.security.test_signals import (
    SLACK,
    cache,  # noqa: F401 - the module's shared cache fixture
    cleanup,
    cli_env,
    leftovers,
    make_incident,
    outliving,
    slow_suite,
    start_run,
)

pytestmark = [pytest.mark.docker]

HANGING = '''import time
from shipping.rates import per_item_cost


def test_per_item_cost():
    assert per_item_cost(10.0, ["a", "b"]) == 5.0


def test_waits_for_a_server_that_never_answers():
    time.sleep(3600)
'''


@pytest.mark.timeout(240)
def test_a_hanging_test_costs_the_per_test_timeout_not_the_container_limit(
    tmp_path: Path, cache: Path, docker_client: Any, monkeypatch: pytest.MonkeyPatch,  # noqa: F811
) -> None:
    from crew.bundle import incident_from_log

    monkeypatch.setenv("HEALCREW_CACHE", str(cache))
    monkeypatch.setattr("crew.validate.TEST_TIMEOUT", 3.0, raising=False)  # the default is 60 s
    repo, log = make_incident(tmp_path, HANGING)
    started = time.monotonic()
    state = run_stages(incident_from_log(repo, log, "HEAD"), use_crewai=False, repair=True, sandbox="docker")
    report = to_report(state)
    assert report.outcome == "fixed", (report.error, [a.rejected_because for a in report.attempts])
    validation = report.accepted.validation if report.accepted else None
    assert validation is not None and validation.suite_on_original and validation.suite_on_patched
    for suite in (validation.suite_on_original, validation.suite_on_patched):
        assert not suite.timed_out
        assert suite.seconds < 3.0 + 20, f"a suite run took {suite.seconds} s"
        assert [t for t in suite.failing if "never_answers" in t], suite.failing
    assert time.monotonic() - started < 200


@pytest.mark.timeout(300)
def test_run_timeout_stops_the_run_like_sigterm_with_a_report(
    tmp_path: Path, cache: Path, docker_client: Any,  # noqa: F811
) -> None:
    repo, log = make_incident(tmp_path, slow_suite(120))
    out, tmp = tmp_path / "out", tmp_path / "tmp"
    started = time.monotonic()
    proc = start_run(repo, log, out, cli_env(cache, tmp), "--timeout", "20")
    try:
        try:
            _, stderr = proc.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            _, stderr = proc.communicate()
        elapsed = time.monotonic() - started
        left = outliving(docker_client, proc.pid)  # a removal the run asked for may still be finishing
    finally:
        cleanup(docker_client, proc)
    print(f"--timeout 20: exit {proc.returncode} after {elapsed:.2f} s")
    assert proc.returncode == 124, stderr[-2000:]
    assert 20 <= elapsed < 20 + 2.0 + SLACK + 3.0, f"took {elapsed:.2f} s"  # + interpreter start-up
    assert left == [] and leftovers(tmp) == []
    report = json.loads((out / "report.json").read_text())
    assert report["stopped_at"] == "repair"
    assert report["error"] == "timed out after 20 s (--timeout)"
    assert "timed out after 20 s" in stderr
