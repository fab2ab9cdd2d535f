"""Issue 8, item 7a/7b: no secret from a log leaves the process, on any path, in any format.

The secrets are planted in a production log; every entry point that writes or prints something
(``diagnose --json``, ``replay --diagnose-only``, ``run --deliver none``, a run without a fix, a
repo without a remote) is run through the real command line and everything it wrote under
``--out`` and on stdout/stderr is searched for them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from crew.delivery.redact import find_secrets, redact
from tests.e2e_helpers import commit_repo, healcrew

# One realistic log line per format the redactor must know; the value that must vanish; the mark.
# Every value is a fake of the right shape.
KINDS: list[tuple[str, str, str]] = [
    ("aws_access_key_id=AKIAIOSFODNN7EXAMPLE", "AKIAIOSFODNN7EXAMPLE", "aws-access-key"),
    ("boto creds AKIAIOSFODNN7EXAMPLE JzFalHlsZfYcMMDktXP+tKsf2rcDkdfrUnW5gcF/ loaded",
     "JzFalHlsZfYcMMDktXP+tKsf2rcDkdfrUnW5gcF/", "aws-secret"),
    ("charge failed with key sk_live_u8jzPde0IgxLd6GncfBAepfJ", "sk_live_u8jzPde0IgxLd6GncfBAepfJ", "stripe-key"),
    ("restricted key rk_live_Bd0Kh8oOOL8dKLzdocJ2isAj in use", "rk_live_Bd0Kh8oOOL8dKLzdocJ2isAj", "stripe-key"),
    ('sa = {"type": "service_account", "project_id": "shop-prod", '
     '"private_key_id": "80e222f828767efc2f91624a8940f1f836f99eee", '
     '"private_key": "-----BEGIN PRIVATE KEY-----\\nMIIEvQIBADANBgkqhkiFAKEgcpKeyBody\\n-----END PRIVATE KEY-----\\n", '
     '"client_email": "pricing@shop-prod.iam.gserviceaccount.com"}',
     "80e222f828767efc2f91624a8940f1f836f99eee", "gcp-private-key-id"),
    ('sa = {"type": "service_account", "private_key_id": "80e222f828767efc2f91624a8940f1f836f99eee", '
     '"private_key": "-----BEGIN PRIVATE KEY-----\\nMIIEvQIBADANBgkqhkiFAKEgcpKeyBody\\n-----END PRIVATE KEY-----\\n"}',
     "MIIEvQIBADANBgkqhkiFAKEgcpKeyBody", "private-key"),
    ("DefaultEndpointsProtocol=https;AccountName=shopprod;AccountKey=pNxnyVmihA/2O76UMFxFkM/R5Kjp1vRt+1fjORS/6il"
     "I8ihN5KXSc7Tvo/hBKqFYY/kv5ZJr3J1TWDtkwtDDb+==;EndpointSuffix=core.windows.net",
     "pNxnyVmihA/2O76UMFxFkM/R5Kjp1vRt+1fjORS/6ilI8ihN5KXSc7Tvo/hBKqFYY/kv5ZJr3J1TWDtkwtDDb+==", "azure-key"),
    ("Endpoint=sb://shop.servicebus.windows.net/;SharedAccessKeyName=RootManageSharedAccessKey;"
     "SharedAccessKey=8po+799NksnRH9ucAUsdMlHUvTCQCyEZDz/TddJ8HyS=",
     "8po+799NksnRH9ucAUsdMlHUvTCQCyEZDz/TddJ8HyS=", "azure-key"),
    ("GET https://shopprod.blob.core.windows.net/invoices/a.pdf?sv=2022-11-02&sp=r&se=2026-12-01T00:00:00Z"
     "&sig=xHKas1VOqg6YYZYn9ZhyiA4uoRgnatmUdjAWtGSU%3D", "xHKas1VOqg6YYZYn9ZhyiA4uoRgnatmUdjAWtGSU", "azure-sas"),
    ("openai client with sk-proj-CZ7Uw9xfogoEmvnEN5N1aE6PwZPf1Qh6yYTWmE4lBYOvfZ8UT3BlbkFJzDzV8fUkkibjL5DZPjN0M"
     "EQ7wjJJibaZUPgHV7iB3m03nbqn", "sk-proj-CZ7Uw9xfogoEmvnEN5N1aE6PwZPf1Qh6yYTWmE4lBYOvfZ8UT3BlbkFJzDzV8fUkkibjL5D"
     "ZPjN0MEQ7wjJJibaZUPgHV7iB3m03nbqn", "openai-key"),
    ("anthropic key sk-ant-api03-LEPH1qhT61qtc4xatws8phP9nhFyJfm5di4PzJ59FHz5r1pY4OjE2jBMptUsGr7CmY-uCu3ZR1zTOlU"
     "cR64cXQLioDnkHAA", "sk-ant-api03-LEPH1qhT61qtc4xatws8phP9nhFyJfm5di4PzJ59FHz5r1pY4OjE2jBMptUsGr7CmY-uCu3ZR1z"
     "TOlUcR64cXQLioDnkHAA", "anthropic-key"),
    ("publishing with npm_rc5XlrWi0B26R08qzjI6GKFSufrdZSlB5er8", "npm_rc5XlrWi0B26R08qzjI6GKFSufrdZSlB5er8",
     "npm-token"),
    ("maps https://maps.googleapis.com/maps/api/geocode/json?key=AIzaclHkCiHp6bR1IqfEouHgxzNNAL5wIScGebc",
     "AIzaclHkCiHp6bR1IqfEouHgxzNNAL5wIScGebc", "google-api-key"),
    ("mail via 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",
     "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", "sendgrid-key"),
    ("gitlab clone with glpat-aqx9vJupc94tnwlavyfE", "glpat-aqx9vJupc94tnwlavyfE", "gitlab-token"),
    ("request headers: Cookie: sessionid=FAKEsess8f3b2a1c9d77; csrftoken=FAKEcsrf77a1b2c3",
     "FAKEsess8f3b2a1c9d77", "cookie"),
    ("request headers: Cookie: sessionid=FAKEsess8f3b2a1c9d77; csrftoken=FAKEcsrf77a1b2c3",
     "FAKEcsrf77a1b2c3", "cookie"),
    ("Set-Cookie: auth=FAKEsetcookie0a9b8c7d6e; Path=/; HttpOnly", "FAKEsetcookie0a9b8c7d6e", "cookie"),
    ("config loaded signing_key=Xh5Jmtf7EbsDe0G9Cryn687neLfjVHq8", "Xh5Jmtf7EbsDe0G9Cryn687neLfjVHq8", "key"),
    ('settings {"clientSecret": "Qm9vZ2llV29vZ2llMTIzNDU2Nzg5"}', "Qm9vZ2llV29vZ2llMTIzNDU2Nzg5", "secret"),
    ("github token ghp_FAKE0example0token0for0tests0only000", "ghp_FAKE0example0token0for0tests0only000",
     "github-token"),
    ("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJGQUtFIn0.c2lnbmF0dXJlLWZha2U",
     "eyJzdWIiOiJGQUtFIn0", "jwt"),
    ("db postgresql://pricing:Hunter2-fake-db-pass@db:5432/pricing", "Hunter2-fake-db-pass", "***"),
    ("slack https://hooks.slack.com/services/T000FAKE/B000FAKE/FAKEfakeFAKEfake00000000",
     "FAKEfakeFAKEfake00000000", "slack-webhook"),
]

# Evidence a reviewer needs; none of it may be touched.
KEEP = [
    "755d4d7d14f8272059b2183deb61df1f37d217ef",
    "3f2b8c1e-7d4a-4e5b-9c6d-1a2b3c4d5e6f",
    'File "/app/app/pricing.py", line 27, in calc',
    "/srv/app/services/pricing/handlers/discounts.py",
    "ZeroDivisionError: float division by zero",
    "cache_key=user:42",
    "primary_key=order_id",
    "sessions=12",
    "Path=/; HttpOnly",
    "sha256=9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
]


@pytest.mark.parametrize(("line", "secret", "kind"), KINDS, ids=[f"{k}-{i}" for i, (_, _, k) in enumerate(KINDS)])
def test_every_kind_of_secret_is_redacted_with_a_readable_mark(line: str, secret: str, kind: str) -> None:
    out = redact(line, env={})
    assert secret not in out, out
    assert ("***" if kind == "***" else f"[REDACTED:{kind}]") in out, out
    assert redact(out, env={}) == out  # twice is once


def test_evidence_is_left_alone() -> None:
    text = "\n".join(KEEP)
    assert redact(text, env={}) == text


def test_find_secrets_names_the_values_it_would_redact() -> None:
    found = find_secrets("\n".join(line for line, _, _ in KINDS), env={})
    for _, secret, _ in KINDS:
        assert any(secret in value or value in secret for value in found), secret


def test_redaction_is_linear_in_the_size_of_the_text() -> None:
    """A log ten times bigger costs about ten times more, including pathological runs (measured once)."""
    chunk = "\n".join(line for line, _, _ in KINDS) + "\n" + "\n".join(KEEP) + "\n"
    chunk += "password" + " " * 2000 + "=\n" + "=" * 3000 + "\n" + "a_" * 2000 + "key\n"

    def cost(n: int) -> float:
        text = chunk * n
        start = time.perf_counter()
        redact(text, env={})
        return time.perf_counter() - start

    small, big = cost(20), cost(200)
    assert big < small * 10 * 3, (small, big)


# --------------------------------------------------------------------------- end to end, through the CLI

SERVICE = '''"""Shipping quotes."""


def per_item_cost(total_cost, items):
    """Cost per item of a parcel."""
    return round(total_cost / len(items), 2)


def quote(parcel):
    return {"per_item": per_item_cost(parcel["cost"], parcel["items"])}
'''
SUITE = '''from shipping.rates import per_item_cost


def test_per_item_cost():
    assert per_item_cost(10.0, ["a", "b"]) == 5.0
'''
UNFIXABLE = '''"""An invariant check nobody should patch away."""


class InvariantError(Exception):
    pass


def settle(ledger):
    raise InvariantError("ledger out of balance")
'''


def _secret_log(path: Path, repo: Path, module: str, call: str) -> Path:
    """A production log: the secrets interleaved with a real traceback from ``repo``."""
    crash = subprocess.run([sys.executable, "-c", f"from {module} import *; {call}"], cwd=repo,
                           capture_output=True, text=True, check=False)
    assert "Traceback" in crash.stderr, crash.stderr
    lines = ["2026-11-20T01:59:58Z worker-1 INFO starting"]
    lines += [f"2026-11-20T01:59:59Z worker-1 DEBUG {line}" for line, _, _ in KINDS]
    lines += [f"2026-11-20T02:00:00Z worker-1 {ln.replace(str(repo), '/srv/app')}" for ln in crash.stderr.splitlines()]
    lines += [f"2026-11-20T02:00:01Z worker-1 DEBUG {line}" for line, _, _ in KINDS]
    path.write_text("\n".join(lines) + "\n")
    return path


def _assert_no_secret_left(out: Path | None, *streams: str) -> None:
    texts = {f"stream {i}": s for i, s in enumerate(streams)}
    if out is not None:
        for f in out.rglob("*"):
            if f.is_file():
                texts[str(f.relative_to(out))] = f.read_text(encoding="utf-8", errors="replace")
    assert texts, "nothing was written"
    for where, text in texts.items():
        for _, secret, kind in KINDS:
            assert secret not in text, f"{kind} secret {secret[:12]}... leaked in {where}"


@pytest.fixture
def shipping(tmp_path: Path) -> tuple[Path, Path]:
    repo = commit_repo(tmp_path / "shipping-svc", {
        "shipping/__init__.py": "", "shipping/rates.py": SERVICE, "tests/test_rates.py": SUITE,
        "requirements.txt": "pytest\n",
    }, "Add shipping rates")
    log = _secret_log(tmp_path / "crash.log", repo, "shipping.rates", "quote({'cost': 4.0, 'items': []})")
    return repo, log


def _check_secrets_reached_the_report(report: dict[str, Any]) -> None:
    """The attack is real: the planted lines are part of the evidence healcrew reports."""
    dumped = json.dumps(report)
    assert "[REDACTED:stripe-key]" in dumped or "[REDACTED:" in dumped, "the secrets never reached the report"


def test_diagnose_json_prints_no_secret(shipping: tuple[Path, Path], tmp_path: Path) -> None:
    repo, log = shipping
    proc = healcrew("diagnose", "--log", str(log), "--repo", str(repo), "--json", cache=tmp_path / "cache")
    assert proc.returncode == 0, proc.stderr
    _check_secrets_reached_the_report(json.loads(proc.stdout))
    _assert_no_secret_left(None, proc.stdout, proc.stderr)


def test_diagnose_on_a_terminal_rendering_shows_no_secret(shipping: tuple[Path, Path], tmp_path: Path) -> None:
    repo, log = shipping
    proc = healcrew("diagnose", "--log", str(log), "--repo", str(repo), cache=tmp_path / "cache")
    assert proc.returncode == 0, proc.stderr
    _assert_no_secret_left(None, proc.stdout, proc.stderr)


def test_replay_diagnose_only_writes_no_secret(shipping: tuple[Path, Path], tmp_path: Path) -> None:
    repo, log = shipping
    bundle = repo.parent  # the repo and the log live inside the bundle folder
    (bundle / "incident.yaml").write_text(yaml.safe_dump({
        "id": "shipping-secrets", "service": "shipping", "repo": {"path": repo.name}, "logs": {"file": log.name},
    }))
    out = tmp_path / "out"
    for extra in ([], ["--json"]):
        proc = healcrew("replay", str(bundle), "--diagnose-only", "--out", str(out), *extra, cache=tmp_path / "cache")
        assert proc.returncode == 0, proc.stderr
        report = json.loads((out / "report.json").read_text())
        _check_secrets_reached_the_report(report)
        _assert_no_secret_left(out, proc.stdout, proc.stderr)


def _run(repo: Path, log: Path, out: Path, cache: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HEALCREW_CACHE": os.environ.get("HEALCREW_CACHE") or str(cache)}
    return subprocess.run(
        [sys.executable, "-m", "crew.cli", "run", "--repo", str(repo), "--log", str(log), "--out", str(out),
         "--sandbox", "docker", *extra], capture_output=True, text=True, env=env, timeout=600, check=False,
    )


@pytest.mark.docker
@pytest.mark.e2e
@pytest.mark.timeout(900)
def test_run_deliver_none_writes_no_secret(shipping: tuple[Path, Path], tmp_path: Path, docker_client: Any) -> None:
    repo, log = shipping
    out = tmp_path / "out"
    proc = _run(repo, log, out, tmp_path / "cache", "--deliver", "none", "--json")
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads((out / "report.json").read_text())
    assert report["outcome"] == "fixed" and (out / "fix.patch").is_file() and (out / "report.md").is_file()
    _check_secrets_reached_the_report(report)
    _assert_no_secret_left(out, proc.stdout, proc.stderr)
    # and the terminal rendering of the same run (no --json), on a repo without a remote
    out2 = tmp_path / "out2"
    proc = _run(repo, log, out2, tmp_path / "cache")
    assert proc.returncode == 0, proc.stderr[-2000:]
    _assert_no_secret_left(out2, proc.stdout, proc.stderr)


@pytest.mark.docker
@pytest.mark.e2e
@pytest.mark.timeout(900)
def test_a_run_without_a_fix_writes_no_secret(tmp_path: Path, docker_client: Any) -> None:
    repo = commit_repo(tmp_path / "ledger-svc", {"ledger/__init__.py": "", "ledger/core.py": UNFIXABLE},
                       "Add the ledger")
    log = _secret_log(tmp_path / "crash.log", repo, "ledger.core", "settle({})")
    out = tmp_path / "out"
    proc = _run(repo, log, out, tmp_path / "cache")
    assert proc.returncode == 1, proc.stderr[-2000:]
    report = json.loads((out / "report.json").read_text())
    assert report["accepted"] is None
    _check_secrets_reached_the_report(report)
    _assert_no_secret_left(out, proc.stdout, proc.stderr)
