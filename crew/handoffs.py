"""The typed records that agents hand each other (DESIGN §1). One place, no logic.

Every record forbids unknown fields so that a stage cannot silently pass along data the
next stage does not expect.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from crew.policy.model import Policy


class Record(BaseModel):
    """Base of every handoff record."""

    model_config = ConfigDict(extra="forbid")


# --------------------------------------------------------------------------- signal


class AlertInfo(Record):
    """One alert out of an Alertmanager webhook payload."""

    status: Literal["firing", "resolved"]
    alertname: str
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    fingerprint: str = ""
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    generator_url: str = ""


class LokiSource(Record):
    """Where to fetch logs from Loki."""

    url: str = Field(description="Base URL of Loki, e.g. http://loki:3100.")
    query: str = Field(default="", description="LogQL selector; derived from the alert if empty.")
    org_id: str | None = Field(default=None, description="Tenant sent as X-Scope-OrgID.")
    limit: int = Field(default=5000, description="Lines per page.")
    max_lines: int = Field(default=200_000, description="Stop paging after this many lines.")


class KubernetesSource(Record):
    """Read the previous (crashed) container's logs from the Kubernetes API."""

    namespace: str = Field(description="Namespace of the crashing pod.")
    pod: str = Field(description="Name of the crashing pod.")
    container: str | None = Field(default=None, description="Container name, if several.")
    previous: bool = Field(default=True, description="Logs of the previous (crashed) instance.")


class LogSource(Record):
    """Exactly one of file, loki or kubernetes."""

    file: str | None = Field(default=None, description="Path to a log file (text, Loki JSON, JSONL).")
    loki: LokiSource | None = None
    kubernetes: KubernetesSource | None = None


class Incident(Record):
    """Who is crashing, where, since when, at which deployed commit."""

    id: str = Field(description="Stable incident id; names the branch and the PR.")
    service: str = Field(default="", description="Service name, as in the alert's labels.")
    namespace: str = ""
    pod: str = ""
    container: str = ""
    repo: str = Field(description="Path of the service's git repository.")
    commit: str = Field(default="HEAD", description="Deployed commit (sha or ref).")
    started_at: datetime | None = None
    alerts: list[AlertInfo] = Field(default_factory=list)
    logs: LogSource | None = None
    test_command: str = Field(default="python -m pytest -q", description="The repo's test command.")
    termination_reason: str | None = Field(
        default=None, description="Reason the container last stopped, e.g. OOMKilled."
    )
    exit_code: int | None = Field(default=None, description="Last exit code of the container.")
    correlation_id: str = Field(default="", description="Id put on every log line of this run.")
    repair_budget: float | None = Field(
        default=None, gt=0, description="Seconds the whole repair may take (--budget); None: only --timeout bounds it.")
    sandbox_python: str | None = Field(
        default=None, pattern=r"^3\.\d{1,2}$",
        description="Python X.Y the sandbox must use (--python); None: chosen from the repository.")
    operator_policy: Policy | None = Field(
        default=None,
        description="The operator's diff policy for this service (healcrew serve's RepairPolicy); the "
                    "repository's .healcrew.yaml may only narrow it. None: the built-in defaults.")


# --------------------------------------------------------------------------- monitoring


class Carets(Record):
    """The columns of a frame's code line that a PEP 657 marker line (``~~~^^^``) underlines.

    Columns count characters of ``Frame.code`` (the line as logged, stripped), end exclusive.
    Python 3.11+ underlines the expression that failed; the ``^`` part is its operator or slice.
    """

    start: int = Field(ge=0)
    end: int = Field(ge=0)
    primary_start: int = Field(ge=0)
    primary_end: int = Field(ge=0)


class Frame(Record):
    """One frame of a Python traceback, as the log shows it."""

    file: str
    line: int
    function: str
    code: str | None = None
    carets: Carets | None = Field(default=None, description="The failing expression's columns, when logged.")
    locals: dict[str, str] = Field(
        default_factory=dict,
        description="Frame-local variables as repr strings (a Sentry event's vars), capped by the source.",
    )


class SyntaxErrorDetail(Record):
    """The extra lines a SyntaxError prints: the offending code and the caret."""

    file: str | None = None
    line: int | None = None
    code: str | None = None
    offset: int | None = None


class Traceback(Record):
    """One Python exception with its frames, and what it was chained to."""

    exc_type: str
    exc_message: str = ""
    frames: list[Frame] = Field(default_factory=list)
    truncated: bool = False
    timestamp: datetime | None = None
    cause: Traceback | None = Field(default=None, description="The exception this one chains to.")
    cause_kind: Literal["cause", "context"] | None = Field(
        default=None, description="'cause' for 'direct cause', 'context' for 'during handling'."
    )
    group: list[Traceback] = Field(default_factory=list, description="ExceptionGroup members.")
    syntax_error: SyntaxErrorDetail | None = None
    raw: str = ""


class CrashGroup(Record):
    """Identical crashes, grouped by signature (exception type + repo-independent frames)."""

    signature: str
    exc_type: str
    exc_message: str
    top_frame: Frame | None = None
    count: int
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    example: int = Field(description="Index into CrashEvidence.tracebacks of one member.")


class Termination(Record):
    """How the container ended when no traceback tells it (OOM kill, config error)."""

    kind: Literal["oom_killed", "startup_failure", "exit"]
    reason: str = ""
    exit_code: int | None = None
    detail: str = ""


class CrashEvidence(Record):
    """Everything Monitoring found in the logs and the alert."""

    incident_id: str
    source: str = Field(description="Where the lines came from (file path, loki, kubernetes).")
    lines_scanned: int = 0
    tracebacks: list[Traceback] = Field(default_factory=list)
    groups: list[CrashGroup] = Field(default_factory=list)
    termination: Termination | None = None
    log_excerpt: list[str] = Field(default_factory=list, description="Lines around the crash.")
    analysis: str | None = Field(default=None, description="The llm brain's monitoring analyst's reading of the logs.")
    context_lines: list[str] = Field(
        default_factory=list,
        description="Log lines carrying data near the crash (request bodies, arguments), for reproduction.",
    )


# --------------------------------------------------------------------------- diagnostic


class RootCause(StrEnum):
    """The root-cause taxonomy (README, 'Root-cause taxonomy')."""

    DIVISION_BY_ZERO = "division_by_zero"
    MISSING_KEY = "missing_key"
    NONE_DEREFERENCE = "none_dereference"
    TYPE_MISMATCH = "type_mismatch"
    INDEX_OUT_OF_RANGE = "index_out_of_range"
    VALUE_PARSE_ERROR = "value_parse_error"
    MISSING_ATTRIBUTE = "missing_attribute"
    IMPORT_ERROR = "import_error"
    MISSING_CONFIG = "missing_config"
    ENCODING_ERROR = "encoding_error"
    OUT_OF_MEMORY = "out_of_memory"
    UNKNOWN = "unknown"


class MappedFrame(Record):
    """A traceback frame mapped (or not) onto a file of the repository."""

    frame: Frame
    repo_path: str | None = Field(default=None, description="Path relative to the repo root.")
    is_library: bool = False
    note: str = ""


class CodeContext(Record):
    """The enclosing function (or a window) around the fault line."""

    path: str
    function: str | None = None
    start_line: int
    end_line: int
    fault_line: int
    lines: list[str] = Field(description="Source lines start_line..end_line, without newlines.")


class SuspectCommit(Record):
    """A commit that last changed the fault line or its function."""

    sha: str
    author: str
    date: datetime
    summary: str
    reason: str = ""
    created_file: bool = Field(default=False, description=(
        "This commit added the file: the line is as old as the file, history rather than a regression."))


class FaultLocation(Record):
    """A place the bad value passed through: the raising line, a caller's argument, an assignment."""

    path: str = Field(description="Repo path.")
    line: int
    function: str | None = None
    expression: str = Field(default="", description="The expression at that line the bad value is.")
    kind: Literal["raised", "caller_argument", "assignment", "init_assignment"]
    reason: str
    score: float = Field(ge=0.0, le=1.0)


class Diagnosis(Record):
    """Where the crash is, why, and who changed that code last."""

    incident_id: str
    exc_type: str
    exc_message: str = ""
    root_cause: RootCause
    frames: list[MappedFrame] = Field(default_factory=list)
    fault_frame: MappedFrame | None = None
    library_frame: MappedFrame | None = Field(
        default=None, description="Deepest library frame when the exception came from a library."
    )
    code_context: CodeContext | None = None
    suspect_commits: list[SuspectCommit] = Field(default_factory=list)
    commit: str = Field(default="", description="Resolved deployed commit sha.")
    culprit: str | None = Field(
        default=None, description="The failing expression: divisor, subscript, attribute base."
    )
    fault_locations: list[FaultLocation] = Field(
        default_factory=list, description="Where the fix may belong, best first; the fault frame's line leads."
    )
    hypothesis: str
    confidence: float = Field(ge=0.0, le=1.0)
    hypothesis_by: str = Field(default="offline", description="The brain that wrote the hypothesis.")


# --------------------------------------------------------------------------- repair


#: Where a crashing input came from, in the order the sources are tried.
InputSource = Literal["sentry locals", "log", "repo tests", "message", "entry point", "search", "template"]


class RegressionTest(Record):
    """A new test that reproduces the crash on the original code."""

    path: str = Field(description="Where the test goes in the repo, e.g. tests/test_regression_x.py.")
    code: str
    call: str = Field(description="The crashing call the test makes, e.g. calc(12.5, 0.0).")
    input_source: InputSource = Field(description="Where the crashing input came from.")
    note: str = ""
    expected: str | None = Field(
        default=None, description="The value the test asserts the call returns, when one could be derived.")
    expected_from: str | None = Field(
        default=None, description="Where that value came from (the fix's contract, the code before the "
                                  "regression, a documented default, ...).")


class RepairProposal(Record):
    """A candidate fix: a diff, a regression test, and why."""

    incident_id: str
    attempt: int
    strategy: str = Field(description="The repair template used.")
    diff: str = Field(description="Unified diff against the deployed commit (without the test).")
    touched_files: list[str]
    test: RegressionTest | None = None
    rationale: str
    score: float = 0.0
    brain: str = "offline"


class RunSummary(Record):
    """Outcome of one test or suite run in the sandbox."""

    exit_code: int | None = None
    passed: int = 0
    failed: int = 0
    errors: int = 0
    skipped: int = 0
    failing: list[str] = Field(default_factory=list, description="Ids of failing or erroring tests.")
    exc_type: str | None = Field(default=None, description="Exception of the regression test, if it failed.")
    exc_message: str | None = None
    raising_frame: str | None = Field(default=None, description="file:line where it was raised.")
    timed_out: bool = False
    oom_killed: bool = False
    seconds: float = 0.0


class Mismatch(Record):
    """Which part of a would-be reproduction differs from the production crash, with both values."""

    part: Literal["type", "frame", "line", "message"]
    production: str
    reproduction: str = Field(description="What the reproduction raised (sandbox text, capped).")


class ReproductionRecord(Record):
    """How the crash was reproduced, or why it was not, whatever then happened to the fix.

    Reproduction comes before any fix is tried: a reproduced crash with no fix still leaves the
    reviewer a failing test; a crash not reproduced is never "fixed".
    """

    reproduced: bool = Field(description="The regression test failed on the deployed commit with the production "
                                         "crash: its type, fault frame and line, and message.")
    source: InputSource | None = Field(default=None, description="Where the crashing input came from.")
    entry: str | None = Field(default=None, description="The function the test calls (module.function), which "
                                                        "may be a caller of the fault function.")
    entry_depth: int = Field(default=0, description="How many repo frames above the fault frame the entry is "
                                                    "(0: the fault function itself).")
    call: str | None = None
    test_path: str | None = None
    test: RegressionTest | None = Field(default=None, description="The regression test, kept even when no fix "
                                                                  "is found: it is the crash, written down.")
    test_on_original: RunSummary | None = Field(
        default=None, description="The regression test's own run on the deployed commit (what it raised).")
    entries_tried: list[str] = Field(default_factory=list, description="Functions probed, in order.")
    inputs_tried: int = 0
    refused: int = Field(default=0, description="Inputs that raised the right type in the right line with another "
                                                "message: not reproductions.")
    closest: Mismatch | None = Field(default=None, description="The near miss, when nothing reproduced.")
    failure: str | None = None
    seconds: float = 0.0


class TimeSpent(Record):
    """Where one attempt's sandbox time went, in seconds.

    The original side (reproduction, test and suite on the original) runs once per incident and
    is counted on the attempt that paid for it; later attempts reuse it and show 0 there.
    """

    reproduction: float = Field(default=0.0, description="Probe runs that searched for the crashing input.")
    test_on_original: float = 0.0
    suite_on_original: float = 0.0
    patched_suite: float = 0.0
    test_on_patched: float = 0.0
    differential: float = 0.0
    total: float = 0.0


class ValidationReport(Record):
    """The sandbox verdicts for one proposal (DESIGN §1, the validation protocol)."""

    backend: str
    isolation_note: str = ""
    test_on_original: RunSummary | None = None
    test_on_patched: RunSummary | None = None
    suite_on_original: RunSummary | None = None
    suite_on_patched: RunSummary | None = None
    reproduces: bool = Field(description="The test fails on the original with the production crash: same "
                             "exception type, fault frame and line, and a matching message.")
    reproduction_mismatch: Mismatch | None = Field(
        default=None, description="Why the test on the original is not the production crash, when it is not.")
    test_run_alone: bool = Field(
        default=False, description="The regression test ran in its own pytest invocation, not the suite's.")
    fixed: bool = Field(description="The test passes on the patched code.")
    newly_failing: list[str] = Field(default_factory=list)
    no_regressions: bool
    differential_inputs: int = 0
    differential_mismatches: list[str] = Field(default_factory=list)
    differential_ok: bool | None = Field(default=None, description="None when no input could be generated.")
    patch_applies: bool = True
    sandbox_runs: int = 0
    seconds: float = 0.0
    passed: bool
    failure: str | None = Field(default=None, description="Why validation failed, in one line.")
    time: TimeSpent | None = Field(default=None, description="Where this attempt's sandbox time went.")


class Finding(Record):
    """One thing Reflection noticed about a proposal."""

    rule: str
    severity: Literal["info", "warning", "blocker"]
    message: str


class Critique(Record):
    """Reflection's verdict on a proposal and its validation."""

    verdict: Literal["accept", "revise", "reject"]
    findings: list[Finding] = Field(default_factory=list)
    feedback: str = Field(default="", description="What the next candidate must do differently.")


class Attempt(Record):
    """One turn of the repair → sandbox → reflection loop."""

    number: int
    proposal: RepairProposal
    validation: ValidationReport | None = None
    critique: Critique | None = None
    rejected_because: str | None = None


class CandidateRecord(Record):
    """One candidate the budgeted search generated, and how far it got (the reviewer sees what else was tried)."""

    strategy: str
    kind: str = Field(description="The generator (template module) that offered it; 'other' when unknown.")
    location: str | None = Field(default=None, description="path:line of the fault location it edits.")
    size: int = Field(description="Lines changed after normalisation (comments and formatting ignored).")
    prior: float = Field(description="The generator's prior score.")
    verdict: str = Field(description="Its stage: refused by policy, test still fails, newly failing, "
                                     "differential, rejected by reflection, accepted, not validated.")
    seconds: float = Field(default=0.0, description="Sandbox seconds its validation steps took.")
    rank: int | None = Field(default=None, description="Its place in the evidence ranking (passing ones only).")
    brain: str = Field(default="offline", description="The brain that proposed it: offline or llm.")
    warnings: list[str] = Field(default_factory=list, description=(
        "Reflection's warnings from the rules that know the generators; each ranks the candidate down."))


# --------------------------------------------------------------------------- delivery


class PullRequestInfo(Record):
    """The pull request (or local review bundle) that carries the fix."""

    forge: Literal["github", "local"]
    number: int | None = None
    url: str = Field(description="Web URL of the PR, or the review bundle folder for the local forge.")
    state: Literal["open", "closed", "merged"] = "open"
    draft: bool = False
    created: bool = Field(description="True when this run opened it; False when it updated an existing one.")
    labels: list[str] = Field(default_factory=list)
    reviewers: list[str] = Field(default_factory=list)
    comment: str | None = Field(default=None, description="What this run said on an existing PR.")


class DeliveryRecord(Record):
    """What Delivery did: the branch, the commit, the push and the pull request."""

    incident_id: str
    forge: Literal["github", "local"]
    branch: str
    base_commit: str = Field(description="The commit the branch was cut from.")
    base_kind: Literal["deployed", "default-branch"] = "deployed"
    commit: str | None = None
    remote: str | None = None
    pushed: bool = False
    pull_request: PullRequestInfo | None = None
    notes: list[str] = Field(default_factory=list, description="Rebases, cool-downs, skipped steps.")
    error: str | None = Field(default=None, description="Why delivery failed, in one line.")


# --------------------------------------------------------------------------- run


class StageTiming(Record):
    """How one stage went."""

    stage: str
    seconds: float
    status: Literal["ok", "failed", "skipped"]
    error: str | None = None


class SandboxPython(Record):
    """The Python the repo's code ran on in the sandbox, and what decided it."""

    version: str
    reason: str


class LLMCall(Record):
    """One request to the model: who asked, what it cost, how long it took."""

    stage: str = Field(description="The role that asked: monitoring, diagnostic, repair or reflection.")
    model: str
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_creation_tokens: int = 0
    cost_usd: float = 0.0
    seconds: float = 0.0
    outcome: str = Field(default="ok", description="ok, invalid answer, tool use, or the error that ended it.")


class LLMStage(Record):
    """Totals of one stage's calls."""

    stage: str
    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    seconds: float = 0.0


class LLMUsage(Record):
    """What the llm brain did in a run: its calls, totals by stage, fallbacks and flagged injections."""

    provider: str
    model: str
    calls: list[LLMCall] = Field(default_factory=list)
    stages: list[LLMStage] = Field(default_factory=list)
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    fallbacks: list[str] = Field(default_factory=list, description="Where the run fell back to offline, and why.")
    stopped: bool = Field(default=False, description="The brain stopped asking (an API error, a spent budget).")
    injections: list[str] = Field(default_factory=list, description=(
        "Instructions found in log or repository text, quoted to the model as data and never followed."))


# --------------------------------------------------------------------------- canary

Classification = Literal["pass", "high", "low", "nodata"]
Direction = Literal["increase", "decrease", "either"]


class MetricSpec(Record):
    """How one metric is judged."""

    name: str
    direction: Direction = Field(default="increase", description="Which change fails the metric.")
    critical: bool = Field(default=False, description="A failing critical metric fails the whole canary.")


class MetricVerdict(Record):
    """One metric's classification and the numbers behind it."""

    name: str
    classification: Classification
    failed: bool = Field(description="High or low: changed in the direction the metric is watched for.")
    critical: bool = False
    estimate: float | None = Field(default=None, description="Hodges-Lehmann shift, canary minus stable.")
    lower: float | None = None
    upper: float | None = None
    p_value: float | None = None
    ratio: float | None = Field(default=None, description="Mean of canary over mean of stable.")
    canary_count: int = 0
    stable_count: int = 0


class JudgeVerdict(Record):
    """The canary's score and verdict over all metrics."""

    score: float
    verdict: Literal["pass", "marginal", "fail"]
    metrics: list[MetricVerdict]
    reason: str


class AnalysisMeasurement(Record):
    """One measurement of one AnalysisTemplate metric: its PromQL result and the conditions' verdict."""

    metric: str
    seconds: float = Field(description="Since the canary started.")
    value: list[float] = Field(default_factory=list, description="The query's result vector (NaN/Inf kept as given).")
    phase: Literal["Successful", "Failed", "Error", "Inconclusive"]
    message: str = ""


class StepMetric(Record):
    """One metric over one step, canary against stable (what the chart plots)."""

    name: str = Field(description="For example error_rate or latency_p90_seconds.")
    canary: float | None = None
    stable: float | None = None
    canary_samples: list[float] = Field(default_factory=list)
    stable_samples: list[float] = Field(default_factory=list)


class CanaryStep(Record):
    """One Rollout step as the canary executed it."""

    index: int
    kind: Literal["setWeight", "pause", "analysis"]
    weight: int = Field(description="Percent of traffic on the canary during the step.")
    started: float = Field(description="Seconds since the canary started.")
    seconds: float = Field(description="How long the step took (scaled time).")
    requests: dict[str, int] = Field(default_factory=dict, description="Requests served, by side (canary, stable).")
    metrics: list[StepMetric] = Field(default_factory=list)
    analysis: list[AnalysisMeasurement] = Field(default_factory=list)
    judge: JudgeVerdict | None = None
    outcome: Literal["passed", "failed", "skipped"] = "passed"
    note: str = Field(default="", description="How the step was run when it differs from the manifest's words.")


class CanaryResult(Record):
    """How a canary of the fix ran and ended: promoted, aborted (traffic back on stable), or not run."""

    backend: Literal["local", "argo"]
    decision: Literal["promoted", "aborted", "timed_out", "not_run"]
    reason: str
    stable: str = Field(description="Stable version: a git ref (local) or image (argo).")
    candidate: str = Field(description="Candidate version: a git ref (local) or image (argo).")
    time_scale: float = Field(default=1.0, description=(
        "Factor applied to every pause, analysis interval and PromQL range (local canary)."))
    steps: list[CanaryStep] = Field(default_factory=list)
    judge: JudgeVerdict | None = Field(default=None, description="The judge over the whole canary.")
    seconds: float = Field(default=0.0, description="Wall time.")
    final_weight: int = Field(default=0, description="Percent of traffic on the candidate when the canary ended.")
    after_abort: dict[str, int] = Field(default_factory=dict, description=(
        "Requests served by side in the check after an abort (local): all of them on stable."))


class RunReport(Record):
    """Everything one run produced; written as JSON and rendered for people."""

    healcrew_version: str
    run_id: str
    incident: Incident
    brain: str = "offline"
    evidence: CrashEvidence | None = None
    diagnosis: Diagnosis | None = None
    timings: list[StageTiming] = Field(default_factory=list)
    attempts: list[Attempt] = Field(default_factory=list)
    reproduction: ReproductionRecord | None = Field(
        default=None, description="How the crash was reproduced (None: reproduction was not attempted).")
    accepted: Attempt | None = Field(default=None, description="The attempt whose fix was accepted.")
    declined: str | None = Field(default=None, description="Why the offline brain declined to fix.")
    sandbox_runs: int = Field(default=0, description="Sandbox runs the repair loop made.")
    sandbox_python: SandboxPython | None = Field(
        default=None, description="The Python the sandbox ran the repo on and why (None: no container ran).")
    candidates_considered: int = 0
    candidates: list[CandidateRecord] = Field(
        default_factory=list, description="Every candidate the search generated, with its verdict.")
    delivery: DeliveryRecord | None = None
    policy_decisions: list[str] = Field(default_factory=list)
    stopped_at: str | None = Field(default=None, description="Stage where the run stopped early.")
    outcome: Literal["diagnosed", "fixed", "no_fix", "failed"] = "failed"
    error: str | None = None
    llm: LLMUsage | None = Field(default=None, description="The llm brain's calls, tokens and cost, when it ran.")
    canary: CanaryResult | None = Field(default=None, description="The canary after delivery, when it ran.")
