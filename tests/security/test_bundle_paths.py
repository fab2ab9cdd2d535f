"""Attack: an incident bundle points ``logs.file``, ``alert``, ``repo.path`` or a Loki URL outside itself.

Before, ``logs.file: ../../../etc/shadow`` was read and its lines landed in ``report.json``; a
Loki URL chosen by the bundle received the operator's Loki token. Now a bundle's paths must
resolve (symlinks followed) inside its folder, the repository may also be a healcrew example
tree, the operator overrides with ``--repo``/``--log``, and a Loki URL needs the operator's
``$HEALCREW_LOKI_URL``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from crew.bundle import load_bundle
from crew.errors import BadInputError
from tests.e2e_helpers import ROOT, commit_repo
from tests.replay_server import serving

SECRET = "host-secret-7f3a9c"
TRACEBACK = (
    "Traceback (most recent call last):\n"
    '  File "/app/svc/calc.py", line 2, in ratio\n'
    "    return a / b\n"
    f"ZeroDivisionError: division by zero {SECRET}\n"
)
ALERT = {"version": "4", "status": "firing", "receiver": "r", "groupKey": "g", "alerts": []}


def _bundle(tmp_path: Path, **spec: object) -> Path:
    """A bundle with a small repo and a log inside it, and ``spec`` written over incident.yaml's defaults."""
    bundle = tmp_path / "bundles" / "inc"
    commit_repo(bundle / "repo", {"svc/__init__.py": "", "svc/calc.py": "def ratio(a, b):\n    return a / b\n"},
                "init")
    (bundle / "logs.txt").write_text(TRACEBACK.replace(SECRET, ""))
    data: dict[str, object] = {"id": "inc", "repo": {"path": "repo"}, "logs": {"file": "logs.txt"}, **spec}
    (bundle / "incident.yaml").write_text(json.dumps(data))  # JSON is YAML
    return bundle


def _outside(tmp_path: Path) -> Path:
    secret = tmp_path / "host" / "shadow"
    secret.parent.mkdir(parents=True, exist_ok=True)
    secret.write_text(TRACEBACK)
    return secret


@pytest.mark.parametrize("where", ["relative", "absolute", "symlink"])
def test_a_log_file_outside_the_bundle_is_refused(tmp_path: Path, where: str) -> None:
    secret = _outside(tmp_path)
    bundle = _bundle(tmp_path)
    if where == "relative":
        rel = os.path.relpath(secret, bundle)
    elif where == "absolute":
        rel = str(secret)
    else:
        (bundle / "linked.txt").symlink_to(secret)
        rel = "linked.txt"
    spec = json.loads((bundle / "incident.yaml").read_text())
    spec["logs"] = {"file": rel}
    (bundle / "incident.yaml").write_text(json.dumps(spec))
    with pytest.raises(BadInputError, match="outside the bundle folder"):
        load_bundle(bundle, tmp_path / "cache")


def test_the_host_file_never_reaches_the_report(tmp_path: Path) -> None:
    secret = _outside(tmp_path)
    bundle = _bundle(tmp_path)
    spec = json.loads((bundle / "incident.yaml").read_text())
    spec["logs"] = {"file": os.path.relpath(secret, bundle)}
    (bundle / "incident.yaml").write_text(json.dumps(spec))
    out = tmp_path / "out"
    env = {**os.environ, "HEALCREW_CACHE": str(tmp_path / "cache")}
    proc = subprocess.run([sys.executable, "-m", "crew.cli", "replay", str(bundle), "--diagnose-only", "--out",
                           str(out), "--json"], capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
    assert proc.returncode == 2 and "outside the bundle folder" in proc.stderr
    assert SECRET not in proc.stdout + proc.stderr
    assert not (out / "report.json").exists()


def test_the_operator_may_pass_the_log_and_the_repo(tmp_path: Path) -> None:
    secret = _outside(tmp_path)
    elsewhere = commit_repo(tmp_path / "elsewhere", {"svc/calc.py": "x = 1\n"}, "init")
    bundle = _bundle(tmp_path, repo={"path": os.path.relpath(elsewhere, tmp_path / "bundles" / "inc")})
    with pytest.raises(BadInputError, match=r"repository .* outside the bundle folder; pass it on the command line"):
        load_bundle(bundle, tmp_path / "cache")
    incident = load_bundle(bundle, tmp_path / "cache", repo=elsewhere, log=secret)
    assert incident.repo == str(elsewhere) and incident.logs is not None and incident.logs.file == str(secret)


def test_an_alert_file_outside_the_bundle_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "alert.json"
    outside.write_text(json.dumps(ALERT))
    bundle = _bundle(tmp_path)
    for rel in ("../../alert.json", str(outside)):
        spec = json.loads((bundle / "incident.yaml").read_text())
        (bundle / "incident.yaml").write_text(json.dumps({**spec, "alert": rel}))
        with pytest.raises(BadInputError, match="alert file .* outside the bundle folder"):
            load_bundle(bundle, tmp_path / "cache")


def test_example_bundles_still_reach_their_example_tree(tmp_path: Path) -> None:
    incident = load_bundle(ROOT / "examples" / "incidents" / "pricing-zero-division", tmp_path / "cache")
    assert Path(incident.repo).is_relative_to(tmp_path / "cache" / "repos")


def test_a_bundle_chosen_loki_url_never_gets_the_operator_token(tmp_path: Path) -> None:
    with serving(lambda req: (200, {"Content-Type": "application/json"},
                              b'{"status":"success","data":{"resultType":"streams","result":[]}}')) as loki:
        bundle = _bundle(tmp_path, logs={"loki": {"url": loki.url, "query": '{app="x"}'}})
        env = {**os.environ, "HEALCREW_CACHE": str(tmp_path / "cache"), "HEALCREW_LOKI_TOKEN": "operator-loki-token"}
        env.pop("HEALCREW_LOKI_URL", None)
        proc = subprocess.run([sys.executable, "-m", "crew.cli", "replay", str(bundle), "--diagnose-only", "--out",
                               str(tmp_path / "out")], capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
        assert proc.returncode == 2 and "HEALCREW_LOKI_URL" in proc.stderr, proc.stderr
        assert loki.requests == []
        # the operator allows that server: then (and only then) it is queried
        env["HEALCREW_LOKI_URL"] = loki.url
        subprocess.run([sys.executable, "-m", "crew.cli", "replay", str(bundle), "--diagnose-only", "--out",
                        str(tmp_path / "out")], capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
        assert loki.requests and loki.requests[0].headers.get("authorization") == "Bearer operator-loki-token"
