"""The validation protocol, all in the sandbox (docs/REPAIR.md).

(a) the regression test FAILS on the original code with the production crash (same exception
type, fault frame and line, matching message: :mod:`crew.repair.fidelity`, the one matcher every
"reproduces" claim goes through); (b) it PASSES on the patched code; (c) the existing suite has no newly failing test;
(d) on generated inputs where the original does not crash, the patched code returns the same
results. The original side is run once per incident (``Baseline``) and reused by every attempt.

Every probe run gets a fresh key (a file the probe deletes before any repo code runs); only a
results block tagged under that key is read, and its entries name healcrew's inputs by index.
The differential probe runs in a container of its own: sharing the suite's container, either
the repo's tests would run while the key file exists (probe after them) or the probe's side
effects would be left for the suite (probe before them). JUnit cases and probe messages are
sandbox text: capped, used for comparison and the report, never written as code.

The regression test runs in a pytest invocation of its own, never inside the repo's test
command: that command may scope collection (one file, a directory, ``-k``/``-m``, ``testpaths``,
``-x`` stopping early) so that the new test is never collected, and every candidate would then be
rejected with "got a pass". Each run's seconds are kept, so the report says where the time went.
"""

from __future__ import annotations

import json
import shlex
import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Protocol

from crew.errors import HealcrewError
from crew.handoffs import (
    CrashEvidence,
    Diagnosis,
    Mismatch,
    RegressionTest,
    ReproductionRecord,
    RunSummary,
    TimeSpent,
    ValidationReport,
)
from crew.repair.expected import Expected, probe_before_regression, revert_diff
from crew.repair.fidelity import Observed, Verdict, describe, judge, raising_frame
from crew.repair.probe_run import run_probe
from crew.repair.regression_test import render_test, test_path
from crew.repair.reproduce import (
    ProbeResult,
    Reproduction,
    Target,
    candidate_inputs,
    pick_reproduction,
    probe_spec,
)
from crew.repo import GitRepo

SPEC_PATH = ".healcrew/probe.json"
DIFF_SPEC_PATH = ".healcrew/differential.json"
JUNIT_PATH = "/tmp/healcrew-junit.xml"
TEST_TIMEOUT = 30.0
"""Seconds one test of the repo's suite may take before pytest-timeout fails it; a hanging test then
costs this, not the sandbox's whole command timeout (which the run's ``--timeout`` bounds in turn).
Generous on purpose: a slow test that times out on both sides is not newly failing, but one near
the limit could flip between them."""
REGRESSION_TIMEOUT = 10.0
"""Seconds the regression test may take: one call the probe already saw raise within its 2 s."""


@dataclass
class CaseOutcome:
    """One test case from the JUnit report."""

    test_id: str
    outcome: str  # passed | failed | error | skipped
    exc_type: str | None = None
    message: str | None = None
    frame: str | None = None  # "file:line"


@dataclass
class SandboxOutcome:
    """What one sandbox run returned, reduced to what validation needs."""

    exit_code: int | None
    stdout: str
    stderr: str
    seconds: float
    timed_out: bool = False
    oom_killed: bool = False
    cases: list[CaseOutcome] = field(default_factory=list)
    patch_error: str | None = None  # the diff did not apply; nothing ran


class Runner(Protocol):
    """Runs a command on the repo at the deployed commit, with an optional diff and extra files."""

    backend: str
    isolation_note: str

    def run(self, command: list[str], diff: str | None, files: dict[str, str], timeout: float) -> SandboxOutcome: ...


@dataclass
class Baseline:
    """The original side of validation, computed once per incident."""

    target: Target | None
    reproduction: Reproduction | None
    test: RegressionTest | None
    test_on_original: RunSummary | None
    suite_on_original: RunSummary | None
    runs: int
    failure: str | None = None
    reproduction_seconds: float = 0.0
    test_seconds: float = 0.0
    suite_seconds: float = 0.0
    closest: Mismatch | None = None  # no input reproduced: the near miss that matched the most parts
    entries_tried: list[str] = field(default_factory=list)
    inputs_tried: int = 0
    refused: int = 0  # inputs with the right type, frame and line and another message
    repo: GitRepo | None = None  # for re-rendering the test in the repo's style
    before: Expected | None = None  # what the crashing input returned before the regression
    entry: tuple[Target, Reproduction] | None = None
    """Production's outermost entry and an input that crashes through it, when the test's target is the
    fault function: the regression test also calls it, so a fix must hold on production's path too."""

    def record(self, diagnosis: Diagnosis) -> ReproductionRecord:
        """The reproduction as the report tells it: reproduced only when the test failed on the
        original with the production crash."""
        verdict = reproduction_verdict(self.test_on_original, diagnosis) if self.test is not None else None
        reproduced = verdict is not None and verdict.matched
        target = self.target
        entry = _entry_name(target) if target is not None else None
        failure = self.failure
        closest = self.closest
        if verdict is not None and not verdict.matched and verdict.mismatch is not None:
            closest = verdict.mismatch
            failure = failure or ("the regression test did not reproduce the crash on the original code: "
                                  + describe(verdict.mismatch))
        return ReproductionRecord(
            reproduced=reproduced, source=self.test.input_source if self.test and reproduced else None,
            entry=entry if reproduced else None, entry_depth=target.depth if target and reproduced else 0,
            call=self.test.call if self.test else None, test_path=self.test.path if self.test else None,
            test=self.test if reproduced else None, test_on_original=self.test_on_original,
            entries_tried=self.entries_tried, inputs_tried=self.inputs_tried, refused=self.refused,
            closest=None if reproduced else closest, failure=None if reproduced else failure,
            seconds=self.reproduction_seconds)


def _entry_name(target: Target) -> str:
    if target.route is not None:
        return f"{target.route.method} {target.route.path}"
    return f"{target.module}.{target.function}" if target.function else f"import {target.module}"


def _suite_command(test_command: str) -> list[str]:
    """The repo's pytest command with a JUnit report; other runners (unittest, nose) go through pytest.

    pytest collects unittest and plain test functions alike, and only its JUnit report tells
    which test failed with which exception, which the protocol needs.
    """
    try:
        cmd = shlex.split(test_command)
    except ValueError:
        cmd = []
    if "pytest" not in " ".join(cmd):
        cmd = ["python", "-m", "pytest", "-q"]
    per_test = ["-p", "timeout", f"--timeout={TEST_TIMEOUT:g}"]  # pytest-timeout is in every env image
    return [*cmd, "-p", "no:cacheprovider", *per_test, f"--junitxml={JUNIT_PATH}"]


def _test_command(path: str) -> list[str]:
    """The regression test alone, by its path, whatever the repo's command would collect."""
    return ["python", "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "timeout",
            f"--timeout={REGRESSION_TIMEOUT:g}", f"--junitxml={JUNIT_PATH}", path]


def _run_test_and_suite(
    runner: Runner, test: RegressionTest, test_command: str, diff: str | None, timeout: float,
) -> tuple[RunSummary, RunSummary, SandboxOutcome, SandboxOutcome]:
    """The regression test in its own run, then the repo's suite as its command scopes it."""
    test_run = runner.run(_test_command(test.path), diff, {test.path: test.code}, min(timeout, 120.0))
    on_test, _ = _summaries(test_run, test.path)
    assert on_test is not None
    if test_run.patch_error is not None:
        return on_test, _summaries(test_run, None)[1], test_run, test_run
    suite_run = runner.run(_suite_command(test_command), diff, {}, timeout)
    _, on_suite = _summaries(suite_run, test.path)
    return on_test, on_suite, test_run, suite_run


def _summaries(outcome: SandboxOutcome, test_file: str | None) -> tuple[RunSummary | None, RunSummary]:
    """Split JUnit cases into the regression test's summary and the suite's."""
    regression = [c for c in outcome.cases if test_file and _case_in_file(c.test_id, test_file)]
    suite = [c for c in outcome.cases if c not in regression]

    def summary(cases: list[CaseOutcome]) -> RunSummary:
        bad = [c for c in cases if c.outcome in ("failed", "error")]
        first = bad[0] if bad else None
        return RunSummary(
            exit_code=outcome.exit_code,
            passed=sum(c.outcome == "passed" for c in cases),
            failed=sum(c.outcome == "failed" for c in cases),
            errors=sum(c.outcome == "error" for c in cases),
            skipped=sum(c.outcome == "skipped" for c in cases),
            failing=[c.test_id for c in bad],
            exc_type=first.exc_type if first else None,
            exc_message=(first.message or "")[:300] if first else None,
            raising_frame=first.frame if first else None,
            timed_out=outcome.timed_out, oom_killed=outcome.oom_killed, seconds=round(outcome.seconds, 3),
        )

    return (summary(regression) if test_file else None), summary(suite)


def _case_in_file(test_id: str, test_file: str) -> bool:
    stem = test_file.rsplit("/", 1)[-1].removesuffix(".py")
    return stem in test_id.replace("/", ".").split(".") or test_file in test_id


def prepare_baseline(
    diagnosis: Diagnosis, evidence: CrashEvidence | None, repo: GitRepo, runner: Runner,
    incident_id: str, test_command: str, timeout: float = 300.0,
) -> Baseline:
    """Find the crashing input in the sandbox, write the test, run it and the suite on the original.

    Entries are probed in the order :func:`crew.repair.entry_points.find_targets` gives (the fault
    function, then its callers up to the outermost repo frame), then a web route's request; the
    first entry with an input that raises the production crash wins. An input found at a caller
    (not from a log, Sentry or the repo's tests) is recorded as coming from the "entry point".
    """
    from crew.repair.entry_points import find_targets
    from crew.repair.http_repro import find_route

    targets = find_targets(diagnosis, repo)
    route = find_route(diagnosis, repo)
    if route is not None:  # a handler that needs its framework: replay the request instead
        root, module = targets[0].import_root if targets else "", route.app_module
        targets.insert(1 if targets else 0, Target(module=module, function=None, path="", import_root=root,
                                                   route=route))
    if not targets:
        return Baseline(None, None, None, None, None, 0, "no function reachable from a test leads to the fault line")
    runs = inputs_tried = refused = 0
    entries: list[str] = []
    started = time.perf_counter()
    reproduction: Reproduction | None = None
    failures: list[str] = []
    closest: Mismatch | None = None
    deadline = time.monotonic() + timeout
    for target in targets:
        if target.function is None and target.route is None:
            entries.append(_entry_name(target))
            reproduction = None
            break  # an import-time crash (or one started by a module's top-level code): the test imports it
        left = deadline - time.monotonic()
        if runs and left < 5.0:
            failures.append("the time for reproduction ran out before every entry was probed")
            break
        inputs = candidate_inputs(target, diagnosis, evidence, repo)
        if target.depth and target.route is None:
            for cand in inputs:
                if cand.source in ("message", "search"):
                    cand.source = "entry point"
        entries.append(_entry_name(target))
        inputs_tried += len(inputs)
        if not inputs:
            failures.append(f"no input could be built for {_entry_name(target)}")
            continue
        spec = probe_spec(target, [cand.args for cand in inputs], diagnosis)
        results, outcome = run_probe(runner, spec, SPEC_PATH, None, max(left, 1.0))
        runs += 1
        if results is None:
            tail = (outcome.stderr or outcome.stdout).strip().splitlines()[-1:] or ["no output"]
            failures.append(f"the probe did not run: {tail[0][:200]}")
            continue
        reproduction = pick_reproduction(results, inputs, diagnosis)
        refused += reproduction.refused
        if reproduction.args is not None:
            break
        what = f"request to {target.route.method} {target.route.path}" if target.route else "input"
        failure = (f"no {what} among {len(inputs)} tried at {_entry_name(target)} raised the production crash "
                   f"({diagnosis.exc_type} in the fault frame and line, with its message)")
        if reproduction.closest is not None:
            closest = closest or reproduction.closest
            failure += f"; closest: {describe(reproduction.closest)}"
        if any(cand.synthetic for cand in inputs):
            failure += " (secrets in the logged inputs were replaced by synthetic values of the same shape)"
        failures.append(failure)
    probing = round(time.perf_counter() - started, 3)
    make = partial(Baseline, entries_tried=entries, inputs_tried=inputs_tried, refused=refused,
                   reproduction_seconds=probing)
    imports_module = target.function is None and target.route is None
    if not imports_module and (reproduction is None or reproduction.args is None):
        return make(targets[0], reproduction, None, None, None, runs, "; ".join(failures), closest=closest)
    before = None
    if reproduction is not None and revert_diff(repo, diagnosis) is not None:
        before = probe_before_regression(runner, repo, target, reproduction, diagnosis, timeout)
        runs += 1
    entry, entry_runs = None, 0
    if reproduction is not None and reproduction.args is not None and target.depth == 0 and target.route is None:
        began = time.perf_counter()
        entry, entry_runs = _crash_through_entry(targets, diagnosis, evidence, repo, runner,
                                                 deadline - time.monotonic())
        runs += entry_runs
        make = partial(make, reproduction_seconds=round(probing + time.perf_counter() - began, 3))
    write = partial(render_test, target, reproduction, diagnosis, incident_id, test_path(repo, incident_id),
                    repo=repo, before=before)
    try:
        try:
            test = write(entry=entry)
        except HealcrewError:
            if entry is None:
                raise
            entry = None  # the entry's input cannot be written as a test: the fault function's test alone
            test = write()
    except HealcrewError as exc:
        return make(target, reproduction, None, None, None, runs, str(exc))
    on_test, on_suite, test_run, suite_run = _run_test_and_suite(runner, test, test_command, None, timeout)
    runs += 2
    return make(target, reproduction, test, on_test, on_suite, runs, test_seconds=round(test_run.seconds, 3),
                suite_seconds=round(suite_run.seconds, 3), repo=repo, before=before, entry=entry)


def _crash_through_entry(
    targets: list[Target], diagnosis: Diagnosis, evidence: CrashEvidence | None, repo: GitRepo, runner: Runner,
    left: float,
) -> tuple[tuple[Target, Reproduction] | None, int]:
    """An input that raises the production crash through production's entry, and the probe runs it
    took. A fix proven at the fault function alone can still leave production's path broken (a
    guard whose value makes the caller loop forever); calling the entry too catches it. When the
    crash came through a web route, the entry is that route and the input the logged request, so the
    test is the API-level one a reviewer expects; else the outermost repo frame."""
    outer = next((t for t in targets if t.route is not None), None) or next(
        (t for t in targets if t.depth > 0 and t.function is not None), None)
    if outer is None or left < 5.0:
        return None, 0
    inputs = candidate_inputs(outer, diagnosis, evidence, repo)
    if not inputs:
        return None, 0
    results, _ = run_probe(runner, probe_spec(outer, [cand.args for cand in inputs], diagnosis), SPEC_PATH, None,
                           max(left, 1.0))
    if results is None:
        return None, 1
    found = pick_reproduction(results, inputs, diagnosis)
    return ((outer, found) if found.args is not None else None), 1


def reproduction_verdict(summary: RunSummary | None, diagnosis: Diagnosis) -> Verdict:
    """Is the test's failure on the original the production crash? The same matcher as the probe's.

    A JUnit report names the deepest frame, so it is compared with production's deepest frame;
    when that is a library's (its lines depend on the installed version), the probe has already
    checked the repo frame and line on the way, and only type and message are compared here.
    """
    if summary is None or (summary.failed + summary.errors) == 0 or summary.exc_type is None:
        got = "not run" if summary is None else ("a pass" if summary.passed else "no test collected")
        if summary is not None and summary.failed + summary.errors:
            got = "a failure without an exception"
        return Verdict(Mismatch(part="type", production=diagnosis.exc_type.rsplit(".", 1)[-1], reproduction=got))
    file, _, line = (summary.raising_frame or "").rpartition(":")
    observed = Observed(exc_type=summary.exc_type, message=summary.exc_message, file=file or None,
                        line=int(line) if line.isdigit() else None)
    return judge(observed, diagnosis, raising_frame(diagnosis))


def reproduces(summary: RunSummary | None, diagnosis: Diagnosis) -> bool:
    """The test failed on the original with the production crash (see :func:`reproduction_verdict`)."""
    return reproduction_verdict(summary, diagnosis).matched


def validate(
    diff: str, baseline: Baseline, diagnosis: Diagnosis, runner: Runner, test_command: str,
    expected_result: str | None = None, timeout: float = 300.0,
) -> ValidationReport:
    """Run the patched side and judge the four checks against the baseline."""
    start = time.perf_counter()
    common: dict[str, Any] = {"backend": runner.backend, "isolation_note": runner.isolation_note}
    if baseline.test is None or baseline.target is None:
        return ValidationReport(
            **common, reproduces=False, fixed=False, no_regressions=False, passed=False,
            sandbox_runs=0, failure=baseline.failure or "no regression test",
        )
    test = baseline.test
    if expected_result is not None and baseline.reproduction is not None:
        try:
            test = render_test(baseline.target, baseline.reproduction, diagnosis, diagnosis.incident_id,
                               test.path, expected_result, repo=baseline.repo, before=baseline.before,
                               entry=baseline.entry)
        except HealcrewError as exc:
            return ValidationReport(
                **common, reproduces=False, fixed=False, no_regressions=False, passed=False,
                sandbox_runs=0, failure=str(exc),
            )
    original = reproduction_verdict(baseline.test_on_original, diagnosis)
    spent = TimeSpent(reproduction=baseline.reproduction_seconds, test_on_original=baseline.test_seconds,
                      suite_on_original=baseline.suite_seconds)
    if not original.matched:  # the patched side cannot pass: do not spend the sandbox on it
        assert original.mismatch is not None
        got = baseline.test_on_original
        return ValidationReport(
            **common, test_on_original=got, suite_on_original=baseline.suite_on_original, reproduces=False,
            reproduction_mismatch=original.mismatch, test_run_alone=True, fixed=False, no_regressions=False,
            passed=False, sandbox_runs=0, seconds=round(time.perf_counter() - start, 3),
            failure="the regression test did not reproduce the crash on the original code: "
                    + describe(original.mismatch),
            time=spent.model_copy(update={"total": _total(spent)}),
        )
    on_test, on_suite, test_run, outcome = _run_test_and_suite(runner, test, test_command, diff, timeout)
    runs = 1 if test_run is outcome else 2
    spent.test_on_patched, spent.patched_suite = round(test_run.seconds, 3), round(outcome.seconds, 3)
    diff_inputs = baseline.reproduction.normal_inputs if baseline.reproduction else []
    probed: list[ProbeResult] = []
    if diff_inputs and outcome.patch_error is None and (baseline.target.function or baseline.target.route):
        spec = probe_spec(baseline.target, diff_inputs, diagnosis)
        entries, ran = run_probe(runner, spec, DIFF_SPEC_PATH, diff, timeout)
        probed, runs = entries or [], runs + 1
        spent.differential = round(ran.seconds, 3)
    spent.total = _total(spent)
    if outcome.patch_error is not None:
        return ValidationReport(**common, reproduces=True, test_run_alone=True, fixed=False,
                                no_regressions=False, passed=False, patch_applies=False, sandbox_runs=1,
                                failure=outcome.patch_error[:300], time=spent)
    return _judge(common, baseline, on_test, on_suite, outcome.timed_out, probed, spent, runs, start)


def _judge(
    common: dict[str, Any], baseline: Baseline, on_test: RunSummary | None, on_suite: RunSummary, timed_out: bool,
    probed: list[ProbeResult], spent: TimeSpent, runs: int, start: float, failure: str | None = None,
) -> ValidationReport:
    """Checks (b)-(d) of the patched side against the baseline: one judgement for one run or a batch.

    ``failure``, when given, is a more precise reason the regression test did not pass (a hang, a
    crashed interpreter), kept in place of the generic one.
    """
    assert baseline.target is not None
    diff_inputs = baseline.reproduction.normal_inputs if baseline.reproduction else []
    was_failing = set(baseline.suite_on_original.failing if baseline.suite_on_original else [])
    newly = [t for t in on_suite.failing if t not in was_failing]
    fixed = on_test is not None and on_test.failed + on_test.errors == 0 and on_test.passed > 0
    mismatches: list[str] = []
    differential_ok: bool | None = None
    if diff_inputs and baseline.reproduction is not None and (fixed or probed):
        by_index: dict[int, Any] = {}
        for entry in probed:
            if entry.index is not None and entry.index < len(diff_inputs):
                by_index.setdefault(entry.index, entry)
        for index, (args, before) in enumerate(zip(diff_inputs, baseline.reproduction.normal_results, strict=True)):
            after = by_index.get(index)
            shown = f"{baseline.target.function or 'request'}({', '.join(args)})"
            if after is None:
                mismatches.append(f"{shown}: not run on the patched code")
            elif after.result != before:
                mismatches.append(f"{shown}: {before} before, {after.result or after.error} after")
        differential_ok = not mismatches
    if fixed:
        failure = None
    elif failure is None:
        failure = f"the regression test still fails on the patched code: {on_test.exc_type if on_test else '?'}"
        if on_test and on_test.exc_message:
            failure += f": {on_test.exc_message[:120]}"
    if failure is None and newly:
        failure = f"{len(newly)} existing test(s) newly fail: {', '.join(newly[:3])}"
    elif failure is None and mismatches:
        failure = f"differential check: {mismatches[0]}"
    elif failure is None and timed_out:
        failure = "the patched run timed out"
    return ValidationReport(
        **common,
        test_on_original=baseline.test_on_original, test_on_patched=on_test,
        suite_on_original=baseline.suite_on_original, suite_on_patched=on_suite,
        reproduces=True, test_run_alone=True, fixed=fixed, newly_failing=newly, no_regressions=not newly,
        differential_inputs=len(diff_inputs), differential_mismatches=mismatches,
        differential_ok=differential_ok, sandbox_runs=runs,
        seconds=round(time.perf_counter() - start, 3), passed=failure is None, failure=failure, time=spent,
    )


@dataclass
class BatchItem:
    """One candidate for :func:`validate_batch`: its patched files, computed on the host."""

    files: dict[str, str]
    expected_result: str | None = None


@dataclass
class BatchOutcome:
    """One container's verdicts, in the order of the items, and what the container cost."""

    reports: list[ValidationReport | None]
    """None: not started, because the batch stopped after an earlier candidate passed (``stop_after_pass``)."""
    seconds: float
    containers: int


BATCH_OUTPUT_CAP = 32 << 20
"""Bytes of the batch's output kept: every candidate's block must survive the head/tail cap."""
COPY_SECONDS = 3.0  # per candidate, for copying the work dir and starting the steps


def validate_batch(
    items: list[BatchItem], baseline: Baseline, diagnosis: Diagnosis, runner: Runner, test_command: str,
    timeout: float = 300.0, stop_after_pass: bool = False,
) -> BatchOutcome:
    """Validate several candidates in ONE sandbox run, each in its own copy (``batch_script.py``).

    Per candidate: the regression test alone (``REGRESSION_TIMEOUT`` per test), then, only when it
    passed, the suite and the differential probe; the baseline's original side is reused. A
    candidate that hangs or kills its interpreter costs its own step's timeout. Verdicts are the
    same judgement as :func:`validate`'s. With ``stop_after_pass`` the container stops after the
    first candidate whose regression test passed; those after it come back as None.
    """
    from crew.repair import batch
    from crew.repair.probe_run import KEY_PATH as PROBE_KEY_PATH
    from crew.repair.probe_run import probe_command
    from crew.repair.reproduce import PROBE_SCRIPT, parse_probe_output

    start = time.perf_counter()
    common: dict[str, Any] = {"backend": runner.backend, "isolation_note": runner.isolation_note}
    if not items:
        return BatchOutcome([], 0.0, 0)
    if not _can_run(baseline, diagnosis):  # nothing to run: validate() says why without a sandbox run
        early: list[ValidationReport | None] = [
            validate("", baseline, diagnosis, runner, test_command, it.expected_result, timeout=timeout)
            for it in items]
        return BatchOutcome(early, 0.0, 0)
    assert baseline.test is not None and baseline.target is not None
    tests: list[RegressionTest] = []
    failures: dict[int, str] = {}
    for index, item in enumerate(items):
        test = baseline.test
        if item.expected_result is not None and baseline.reproduction is not None:
            try:
                test = render_test(baseline.target, baseline.reproduction, diagnosis, diagnosis.incident_id,
                                   test.path, item.expected_result, repo=baseline.repo, before=baseline.before,
                                   entry=baseline.entry)
            except HealcrewError as exc:
                failures[index] = str(exc)
        tests.append(test)
    diff_inputs = baseline.reproduction.normal_inputs if baseline.reproduction else []
    probe: dict[str, Any] | None = None
    if diff_inputs and (baseline.target.function or baseline.target.route):
        probe_files = {PROBE_PATH_IN_COPY: PROBE_SCRIPT.read_text(encoding="utf-8"),
                       DIFF_SPEC_PATH: json.dumps(probe_spec(baseline.target, diff_inputs, diagnosis))}
        probe = {"argv": probe_command(DIFF_SPEC_PATH), "files": probe_files, "key_path": PROBE_KEY_PATH}
    run_items = [i for i in range(len(items)) if i not in failures]
    batch_key, probe_keys = batch.new_keys(len(run_items))
    spec = {
        "scratch": batch.SCRATCH, "junit": JUNIT_PATH, "deadline": max(1.0, timeout - 5.0),
        "test": _test_command(baseline.test.path), "test_timeout": REGRESSION_TIMEOUT + STEP_SLACK,
        "suite": _suite_command(test_command), "suite_timeout": min(timeout, SUITE_STEP_TIMEOUT),
        "probe": probe, "probe_timeout": PROBE_STEP_TIMEOUT,
        "candidates": [{"files": {**items[i].files, tests[i].path: tests[i].code}} for i in run_items],
        "stop_after_pass": stop_after_pass,
    }
    outcome = _run_batch(runner, batch.command(), batch.files(spec, batch_key, probe_keys), timeout)
    found = batch.parse_blocks(outcome.stdout, batch_key, len(run_items))
    root = baseline.repo.path if baseline.repo is not None else None
    reports: list[ValidationReport | None] = []
    for index in range(len(items)):
        if index in failures:
            reports.append(ValidationReport(**common, reproduces=False, fixed=False, no_regressions=False,
                                            passed=False, sandbox_runs=0, failure=failures[index]))
            continue
        slot = run_items.index(index)
        got = found.get(slot)
        if got is not None and got.stopped:
            reports.append(None)
            continue
        if got is None or got.steps is None or "test" not in got.steps:
            why = (got.skipped or got.error) if got is not None else None
            if why is None:
                why = ("the batch timed out before this candidate finished" if outcome.timed_out else
                       "no verified result came back from the batch for this candidate")
            reports.append(ValidationReport(**common, reproduces=True, test_run_alone=True, fixed=False,
                                            no_regressions=False, passed=False, sandbox_runs=0,
                                            failure=f"not validated: {why}"))
            continue
        copy = batch.copy_of(slot)
        cases = partial(_junit_cases, root=root, workdir=copy)
        test_step = got.steps["test"]
        test_run = SandboxOutcome(exit_code=test_step.exit_code, stdout="", stderr=test_step.stderr,
                                  seconds=test_step.seconds, timed_out=test_step.timed_out,
                                  cases=cases(test_step.junit))
        on_test, _ = _summaries(test_run, tests[index].path)
        suite_step = got.steps.get("suite")
        suite_run = SandboxOutcome(exit_code=suite_step.exit_code if suite_step else None, stdout="",
                                   stderr=suite_step.stderr if suite_step else "",
                                   seconds=suite_step.seconds if suite_step else 0.0,
                                   timed_out=suite_step.timed_out if suite_step else False,
                                   cases=cases(suite_step.junit) if suite_step else [])
        _, on_suite = _summaries(suite_run, tests[index].path)
        probe_step = got.steps.get("probe")
        probed = (parse_probe_output(probe_step.stdout, probe_keys[slot]) or []) if probe_step else []
        spent = TimeSpent(test_on_patched=round(test_step.seconds, 3),
                          patched_suite=round(suite_run.seconds, 3),
                          differential=round(probe_step.seconds, 3) if probe_step else 0.0)
        spent.total = _total(spent)
        runs = 1 + (suite_step is not None) + (probe_step is not None)
        reports.append(_judge(common, baseline, on_test, on_suite, suite_run.timed_out, probed, spent, runs, start,
                              failure=_step_failure(test_step.exit_code, test_step.timed_out, on_test)))
    return BatchOutcome(reports, round(outcome.seconds, 3), 1)


STEP_SLACK = 10.0
"""Seconds beyond the per-test timeout a step may take (starting pytest, collecting) before it is killed."""
SUITE_STEP_TIMEOUT = 120.0
PROBE_STEP_TIMEOUT = 30.0
PROBE_PATH_IN_COPY = ".healcrew/probe.py"


def _junit_cases(xml: bytes | None, root: Path | None, workdir: str) -> list[CaseOutcome]:
    """A copy's JUnit report through the sandbox's hostile-input parser; frames made copy-relative."""
    from sandbox.errors import SandboxError as RawSandboxError
    from sandbox.junit import parse_junit

    if not xml:
        return []
    try:
        parsed = parse_junit(xml, root=root, workdir=workdir)
    except RawSandboxError:
        return []
    return [CaseOutcome(test_id=t.test_id, outcome=t.outcome, exc_type=t.exc_type, message=t.message,
                        frame=t.frame) for t in parsed]


def _can_run(baseline: Baseline, diagnosis: Diagnosis) -> bool:
    return (baseline.test is not None and baseline.target is not None
            and reproduction_verdict(baseline.test_on_original, diagnosis).matched)


def _step_failure(exit_code: int | None, timed_out: bool, on_test: RunSummary | None) -> str | None:
    """A precise reason when the regression test's run itself went wrong (read from exit code and
    report only: never from what the run printed)."""
    if timed_out:
        return f"the regression test hung: killed after {REGRESSION_TIMEOUT + STEP_SLACK:g} s"
    if on_test is None or on_test.passed + on_test.failed + on_test.errors == 0:
        return f"the regression test's interpreter died without a report (exit code {exit_code})"
    return None


def _run_batch(runner: Runner, command: list[str], files: dict[str, str], timeout: float) -> SandboxOutcome:
    """The batch run; with the sandbox runner's output cap raised so every block survives."""
    import inspect

    extra: dict[str, Any] = {}
    if "output_cap" in inspect.signature(runner.run).parameters:
        extra["output_cap"] = BATCH_OUTPUT_CAP
    return runner.run(command, None, files, timeout, **extra)


def _total(spent: TimeSpent) -> float:
    return round(spent.reproduction + spent.test_on_original + spent.suite_on_original + spent.patched_suite
                 + spent.test_on_patched + spent.differential, 3)
