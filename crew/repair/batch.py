"""The host side of ``batch_script.py``: what is shipped into the container and what is read back.

One container validates several candidates (see the script's docstring for why each copy's
results stay its own). What comes back is sandbox text: only blocks tagged under this batch's
key are read, each is decompressed with a cap (a block is small, but its content is untrusted),
and every field is checked for its type before use. JUnit reports come back raw, for the
hostile-input parser in ``sandbox.junit``; probe output comes back raw, for the probe's own
key check.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import math
import secrets
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BATCH_SCRIPT = Path(__file__).with_name("batch_script.py")
SCRIPT_PATH = ".healcrew/batch.py"
SPEC_PATH = ".healcrew/batch.json"
KEY_PATH = ".healcrew/batch.key"
SCRATCH = "/tmp/healcrew-batch"
"""Where the copies are made: the container's tmpfs; one copy exists at a time."""
BEGIN, END = "<<<HEALCREW-BATCH", "HEALCREW-BATCH>>>"
MAX_BLOCK = 64 << 20  # bytes one candidate's block may decompress to
MAX_BLOCKS = 10_000


@dataclass
class StepResult:
    """One command of one candidate, as the container reported it (untrusted)."""

    exit_code: int | None
    timed_out: bool
    seconds: float
    stdout: str
    stderr: str
    junit: bytes | None


@dataclass
class CandidateResult:
    """What came back for one candidate: its steps, or why none ran."""

    index: int
    copy: str | None = None
    steps: dict[str, StepResult] | None = None
    error: str | None = None
    skipped: str | None = None
    stopped: bool = False
    """Not started: the batch stopped after an earlier candidate passed its regression test."""


def new_keys(count: int) -> tuple[str, list[str]]:
    """A fresh batch key and one probe key per candidate (hex)."""
    return secrets.token_hex(32), [secrets.token_hex(32) for _ in range(count)]


def command() -> list[str]:
    """``-I -S``: nothing of the repo runs in the driver before it has taken the keys."""
    return ["python", "-I", "-S", SCRIPT_PATH, SPEC_PATH, KEY_PATH]


def files(spec: dict[str, Any], batch_key: str, probe_keys: list[str]) -> dict[str, str]:
    return {SCRIPT_PATH: BATCH_SCRIPT.read_text(encoding="utf-8"), SPEC_PATH: json.dumps(spec),
            KEY_PATH: json.dumps({"batch": batch_key, "probes": probe_keys})}


def parse_blocks(stdout: str, key: str, count: int) -> dict[int, CandidateResult]:
    """Each candidate's first verified block, by index; blocks without a valid tag are ignored."""
    secret = bytes.fromhex(key)
    found: dict[int, CandidateResult] = {}
    pos = 0
    for _ in range(MAX_BLOCKS):
        start = stdout.find(BEGIN, pos)
        if start == -1:
            break
        end = stdout.find(END, start)
        if end == -1:
            break
        pos = start + len(BEGIN)
        tag, _, encoded = stdout[pos:end].strip().partition(" ")
        try:
            data = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            continue
        if not hmac.compare_digest(tag.encode(), hmac.new(secret, data, hashlib.sha256).hexdigest().encode()):
            continue
        result = _result(data, count)
        if result is not None and result.index not in found:
            found[result.index] = result
    return found


def _result(data: bytes, count: int) -> CandidateResult | None:
    inflate = zlib.decompressobj()
    try:
        raw = inflate.decompress(data, MAX_BLOCK)
        payload = json.loads(raw) if not inflate.unconsumed_tail else None
    except (zlib.error, ValueError):
        return None
    if not isinstance(payload, dict) or not isinstance(payload.get("index"), int):
        return None
    index = payload["index"]
    if not 0 <= index < count:
        return None
    if payload.get("stopped") is True:
        return CandidateResult(index=index, stopped=True)
    if isinstance(payload.get("skipped"), str):
        return CandidateResult(index=index, skipped=payload["skipped"][:300])
    if isinstance(payload.get("error"), str):
        return CandidateResult(index=index, error=payload["error"][:300])
    steps: dict[str, StepResult] = {}
    raw_steps = payload.get("steps")
    for name in ("test", "suite", "probe"):
        step = raw_steps.get(name) if isinstance(raw_steps, dict) else None
        if isinstance(step, dict):
            parsed = _step(step)
            if parsed is not None:
                steps[name] = parsed
    return CandidateResult(index=index, copy=copy_of(index), steps=steps)


def copy_of(index: int) -> str:
    """The copy's folder in the container (the driver's naming; never read back from it)."""
    return f"{SCRATCH}/c{index}"


def _step(step: dict[str, Any]) -> StepResult | None:
    code, seconds = step.get("exit_code"), step.get("seconds")
    if not (code is None or isinstance(code, int)) or not isinstance(seconds, int | float) \
            or not math.isfinite(seconds):
        return None
    junit: bytes | None = None
    if isinstance(step.get("junit"), str):
        try:
            junit = base64.b64decode(step["junit"], validate=True)
        except (binascii.Error, ValueError):
            junit = None
    text = {k: v if isinstance(v := step.get(k), str) else "" for k in ("stdout", "stderr")}
    return StepResult(exit_code=code, timed_out=step.get("timed_out") is True, seconds=max(0.0, float(seconds)),
                      stdout=text["stdout"], stderr=text["stderr"], junit=junit)
