"""Search benchmark: how many candidates the default 60 s budget validates, batched versus one at a time.

On the flagship incident, the real search's candidates (every generator at the best fault
locations, deduplicated) are padded with further guards that return other values, so that the
pool holds more distinct programs than the budget can take. Each is a real program the sandbox
must judge: most of them fail the regression test or change an ordinary output.

Both modes validate the same pool in the same run, after one shared baseline (the reproduction
and the original side, paid once per incident in both):

- batched: ``validate_batch`` with ``BATCH_SIZE`` candidates per container, as the search does;
- one at a time: ``validate`` per candidate, one container each (the loop before the search).

Printed: candidates validated within ``SEARCH_BUDGET`` seconds, sandbox seconds per candidate,
containers, and the ratio. Target: at least 20 candidates within the budget, batched.
Run: ``python bench/bench_search.py`` (also part of ``make bench``).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from crew.agents.diagnostic import diagnose  # noqa: E402
from crew.agents.monitoring import monitor  # noqa: E402
from crew.agents.repair import BATCH_SIZE, SEARCH_BUDGET, SEARCH_LIMIT, _located_candidates, _proposal  # noqa: E402
from crew.bundle import load_bundle  # noqa: E402
from crew.repair.candidates import Candidate, SourceEdit, TemplateContext  # noqa: E402
from crew.repair.search import dedup, normal_key, order_key  # noqa: E402
from crew.repo import GitRepo  # noqa: E402
from crew.sandbox_runner import SandboxRunner  # noqa: E402
from crew.validate import BatchItem, prepare_baseline, validate, validate_batch  # noqa: E402

FLAGSHIP = ROOT / "examples" / "incidents" / "pricing-zero-division"
POOL = 64  # more than the budget can take one at a time, so both modes show their capacity
RETURNS = ("0.0", "p", "None", "1.0", "-1.0", "p * 2", "round(p, 1)", "float('nan')", "p - 1", "abs(p)",
           "p / 1.25", "p + 0.01", "0", "int(p)", "p * 0.5", "max(p, 0.0)", "min(p, 1.0)", "p ** 1", "-p",
           "float(p)", "p * 1.0", "p + 0.0", "100.0", "1", *(f"round(p * {k / 100:g}, 2)" for k in range(101, 161)))


def _pool(ctx: TemplateContext) -> list[Candidate]:
    """The real search's candidates, then guards returning other values, up to ``POOL`` distinct programs."""
    found = dedup(_located_candidates(ctx, SEARCH_LIMIT))
    fault = ctx.diagnosis.fault_frame
    assert fault is not None and fault.repo_path is not None
    path, line = fault.repo_path, fault.frame.line
    source = ctx.repo.read(path) or ""
    lines = source.splitlines(keepends=True)
    code = lines[line - 1]
    indent = code[: len(code) - len(code.lstrip())]
    divisor = (ctx.diagnosis.culprit or "d").split(".")[-1]
    seen = {normal_key(c) for c in found}
    for value in RETURNS:
        if len(found) >= POOL:
            break
        guard = f"{indent}if {divisor} == 0:\n{indent}    return {value}\n"
        updated = "".join(lines[: line - 1]) + guard + "".join(lines[line - 1:])
        cand = Candidate(f"guard-bench-{len(found)}", (SourceEdit(path, source, updated),), f"returns {value}", 0.1)
        if normal_key(cand) not in seen:
            seen.add(normal_key(cand))
            found.append(cand)
    return sorted(found, key=order_key)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=SEARCH_BUDGET, help="sandbox seconds per mode")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        incident = load_bundle(FLAGSHIP, Path(tmp) / "cache")
        evidence = monitor(incident)
        repo = GitRepo(incident.repo, incident.commit)
        diagnosis = diagnose(evidence, repo)
        runner = SandboxRunner(repo, "docker")
        try:
            started = time.perf_counter()
            baseline = prepare_baseline(diagnosis, evidence, repo, runner, incident.id, incident.test_command)
            baseline_s = time.perf_counter() - started
            if not baseline.record(diagnosis).reproduced:
                print(f"bench_search: the flagship crash was not reproduced: {baseline.failure}")
                return 1
            pool = _pool(TemplateContext(diagnosis=diagnosis, repo=repo, evidence=evidence))
            batched = _batched(pool, baseline, diagnosis, runner, incident.test_command, args.budget)
            single = _one_at_a_time(pool, baseline, diagnosis, runner, incident.test_command, args.budget)
        finally:
            runner.close()
    _table(len(pool), baseline_s, args.budget, batched, single)
    return 0 if batched[0] >= 20 else 1


def _batched(pool: list[Candidate], baseline, diagnosis, runner, test_command: str,  # type: ignore[no-untyped-def]
             budget: float) -> tuple[int, float, int, int]:
    done = containers = passed = 0
    spent = 0.0
    for start in range(0, len(pool), BATCH_SIZE):
        if spent >= budget:
            break
        chunk = pool[start:start + BATCH_SIZE]
        items = [BatchItem(files={e.path: e.updated for e in c.edits}, expected_result=c.expected_result)
                 for c in chunk]
        began = time.perf_counter()
        result = validate_batch(items, baseline, diagnosis, runner, test_command, timeout=max(budget - spent, 5.0))
        took = time.perf_counter() - began
        containers += result.containers
        # candidates finished within the budget: the batch's time shared evenly over its candidates
        fits = len(chunk) if spent + took <= budget else int(len(chunk) * (budget - spent) / took)
        done += fits
        passed += sum(1 for r in result.reports[:fits] if r is not None and r.passed)
        spent += took
    return done, spent, containers, passed


def _one_at_a_time(pool: list[Candidate], baseline, diagnosis, runner,  # type: ignore[no-untyped-def]
                   test_command: str, budget: float) -> tuple[int, float, int, int]:
    done = passed = 0
    spent = 0.0
    for cand in pool:
        if spent >= budget:
            break
        proposal = _proposal(cand, diagnosis, 1, baseline)
        began = time.perf_counter()
        report = validate(proposal.diff, baseline, diagnosis, runner, test_command, cand.expected_result,
                          timeout=max(budget - spent, 5.0))
        took = time.perf_counter() - began
        if spent + took <= budget:
            done += 1
            passed += int(report.passed)
        spent += took
    return done, spent, done, passed


def _table(pool: int, baseline_s: float, budget: float, batched: tuple[int, float, int, int],
           single: tuple[int, float, int, int]) -> None:
    print(f"flagship pool: {pool} distinct candidates; shared baseline {baseline_s:.1f} s; "
          f"budget {budget:g} s per mode")
    print("| mode | validated in budget | passed | containers | sandbox s | s per candidate |")
    print("|---|---:|---:|---:|---:|---:|")
    rows = {"batched": batched, "one at a time": single}
    for name, (done, spent, containers, passed) in rows.items():
        per = spent / max(done, 1)
        print(f"| {name} | {done} | {passed} | {containers} | {spent:.1f} | {per:.2f} |")
    b, s = batched[1] / max(batched[0], 1), single[1] / max(single[0], 1)
    print(f"batched validates {s / b:.1f}x as many candidates per sandbox second (target: >= 20 within {budget:g} s: "
          f"{'met' if batched[0] >= 20 else 'NOT met'})")


if __name__ == "__main__":
    sys.exit(main())
