"""``healcrew canary``: run a canary of a candidate against stable, check a service's canary manifests, or write them.

Exit codes: 0 promoted (``check``: no problem found), 1 aborted, timed out or not run
(``check``: problems found), 2 bad input. Inputs are checked before anything heavy starts; each
error is one line. ``canary.json`` and ``canary.html`` are written to ``--out``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Annotated, Any

import typer

from crew.errors import BadInputError

canary_app = typer.Typer(help="Canary a candidate against stable (local or Argo Rollouts); check or write manifests.")


@dataclass(frozen=True)
class CanaryOptions:
    """The command line of ``healcrew canary`` (a dataclass: pydantic's import would slow ``--help``)."""

    backend: str = "local"
    service: Path | None = None
    stable: str | None = None
    candidate: str | None = None
    out_dir: Path = field(default_factory=lambda: Path("out") / "canary")
    as_json: bool = False
    time_scale: float | None = None
    rollout: Path | None = None
    analysis_template: Path | None = None
    kubeconfig: str | None = None
    context: str | None = None
    namespace: str | None = None
    rollout_name: str | None = None
    container: str | None = None
    image: str | None = None
    timeout: float = 900.0
    poll: float = 2.0


def _git_top(service: Path) -> Path:
    from sandbox import safegit

    proc = safegit.run_git(["rev-parse", "--show-toplevel"], service, ceiling=False, timeout=30)
    if proc.returncode != 0:
        raise BadInputError(f"--service {service} is not inside a git repository")
    return Path(proc.stdout.decode().strip())


def _check_ref(top: Path, ref: str, flag: str) -> str:
    from sandbox import safegit

    proc = safegit.run_git(["rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"], top, timeout=30)
    if proc.returncode != 0:
        raise BadInputError(f"{flag} {ref!r} is not a commit of {top.name}")
    return proc.stdout.decode().strip()


def _service_rollout(opts: CanaryOptions) -> dict[str, Any] | None:
    from crew.canary.manifests import load_manifests, load_yaml_object

    if opts.rollout is not None:
        return load_yaml_object(opts.rollout, "Rollout")
    if opts.service is None:
        return None
    found = load_manifests(opts.service)
    return found.rollouts[0].body if len(found.rollouts) == 1 else None


def check_inputs(opts: CanaryOptions) -> tuple[CanaryOptions, list[str]]:
    """The options completed (argo defaults from the service's Rollout) and warnings; ``BadInputError`` if bad."""
    from crew import cli_inputs
    from crew.canary.run import BACKENDS

    if opts.backend not in BACKENDS:
        raise BadInputError(f"--backend must be local or argo, not {opts.backend!r}")
    cli_inputs.check_out(opts.out_dir)
    for flag, path in (("--rollout", opts.rollout), ("--analysis-template", opts.analysis_template)):
        if path is not None and not path.is_file():
            raise BadInputError(f"{flag} {path} is not a file")
    if opts.service is not None and not opts.service.is_dir():
        raise BadInputError(f"--service {opts.service} is not a folder")
    warnings: list[str] = []
    if opts.backend == "local":
        missing = [f for f, v in (("--service", opts.service), ("--stable", opts.stable),
                                  ("--candidate", opts.candidate)) if not v]
        if missing:
            raise BadInputError(f"the local canary needs {', '.join(missing)}")
        assert opts.service is not None and opts.stable and opts.candidate
        top = _git_top(opts.service)
        _check_ref(top, opts.stable, "--stable")
        _check_ref(top, opts.candidate, "--candidate")
        if opts.rollout is None and not (opts.service / "deploy" / "rollout.yaml").is_file():
            raise BadInputError(f"{opts.service} has no deploy/rollout.yaml; give --rollout, or write the default "
                                f"pair with 'healcrew canary init {opts.service}'")
        warnings += _manifest_warnings(opts.service)
        return opts, warnings
    rollout = _service_rollout(opts) or {}
    meta = rollout.get("metadata") or {}
    containers = (((rollout.get("spec") or {}).get("template") or {}).get("spec") or {}).get("containers") or []
    filled = replace(opts, namespace=opts.namespace or meta.get("namespace"),
                     rollout_name=opts.rollout_name or meta.get("name"),
                     container=opts.container or (containers[0].get("name") if len(containers) == 1 else None))
    missing = [f for f, v in (("--image", filled.image), ("--namespace", filled.namespace),
                              ("--rollout-name", filled.rollout_name), ("--container", filled.container)) if not v]
    if missing:
        raise BadInputError(f"the argo canary needs {', '.join(missing)} (or a --service whose manifests name them)")
    return filled, warnings


def _manifest_warnings(service: Path) -> list[str]:
    from crew.canary.manifests import check_manifests, find_crds, load_manifests

    problems = check_manifests(load_manifests(service), find_crds())
    if not problems:
        return []
    return [f"the canary manifests have {len(problems)} problem(s); 'healcrew canary check {service}' lists them"]


def run_command(opts: CanaryOptions, *, runner: Any = None, api_client: Any = None,
                say: Callable[[str], None] | None = None) -> int:
    """Check, run, write ``canary.json`` and ``canary.html``; the exit code.

    ``runner`` and ``api_client`` default to the real local canary and the kubeconfig's cluster.
    """
    from crew.canary.run import ArgoTarget, kubernetes_client, run_canary_backend

    say = say or (lambda _m: None)
    opts, warnings = check_inputs(opts)
    for line in warnings:
        say(line)
    argo = None
    if opts.backend == "argo":
        argo = ArgoTarget(namespace=opts.namespace or "", rollout=opts.rollout_name or "", container=opts.container
                          or "", image=opts.image or "", kubeconfig=opts.kubeconfig, context=opts.context,
                          timeout=opts.timeout, poll=opts.poll)
        if api_client is None:
            api_client = kubernetes_client(argo)  # credentials checked before the canary starts
    result = run_canary_backend(opts.backend, service_dir=opts.service, stable=opts.stable, candidate=opts.candidate,
                                time_scale=opts.time_scale, rollout=opts.rollout,
                                analysis_template=opts.analysis_template, argo=argo, runner=runner,
                                api_client=api_client, progress=say)
    write_outputs(result, opts.out_dir)
    if opts.as_json:
        print(result.model_dump_json(indent=2))
    else:
        say(f"canary {result.decision.replace('_', ' ')}: {result.reason}; written to {opts.out_dir}")
    return 0 if result.decision == "promoted" else 1


def write_outputs(result: Any, out_dir: Path) -> None:
    """``canary.json`` (the record) and ``canary.html`` (the chart and tables), redacted."""
    from crew.report import write_output
    from crew.report_html import canary_html

    out_dir.mkdir(parents=True, exist_ok=True)
    write_output(out_dir / "canary.json", result.model_dump_json(indent=2))
    write_output(out_dir / "canary.html", canary_html(result))


def _say(as_json: bool) -> Callable[[str], None]:
    from crew.cli import err
    from crew.escape import terminal

    def say(message: str) -> None:
        if not as_json:
            err.print(f"canary: {terminal(message, markup=False)}", markup=False, highlight=False)

    return say


@canary_app.callback(invoke_without_command=True)
def canary(
    ctx: typer.Context,
    service: Annotated[Path | None, typer.Option("--service", help="The service's folder in its git repository.",
                                                 show_default=False)] = None,
    stable: Annotated[str | None, typer.Option("--stable", help="Stable version: a git ref (local).",
                                               show_default=False)] = None,
    candidate: Annotated[str | None, typer.Option("--candidate", help="Candidate version: a git ref (local).",
                                                  show_default=False)] = None,
    backend: Annotated[str, typer.Option("--backend", help="local (on this machine) or argo (the cluster's "
                                         "Rollout).")] = "local",
    out_dir: Annotated[Path, typer.Option("--out", help="Write canary.json and canary.html here.")] =
        Path("out") / "canary",
    as_json: Annotated[bool, typer.Option("--json", help="Print the CanaryResult as JSON on stdout.")] = False,
    time_scale: Annotated[float | None, typer.Option(
        "--time-scale", min=0.001, max=100.0, help="Local canary: factor on every pause, interval and PromQL range.",
        show_default=False)] = None,
    rollout: Annotated[Path | None, typer.Option("--rollout", help="The Rollout file (default: "
                                                 "deploy/rollout.yaml).", show_default=False)] = None,
    analysis_template: Annotated[Path | None, typer.Option(
        "--analysis-template", help="The AnalysisTemplate file (default: deploy/analysis-template.yaml).",
        show_default=False)] = None,
    kubeconfig: Annotated[str | None, typer.Option("--kubeconfig", help="Argo: kubeconfig file (default "
                                                   "$KUBECONFIG, ~/.kube/config or in-cluster).",
                                                   show_default=False)] = None,
    kube_context: Annotated[str | None, typer.Option("--context", help="Argo: kubeconfig context.",
                                                     show_default=False)] = None,
    namespace: Annotated[str | None, typer.Option("--namespace", help="Argo: the Rollout's namespace.",
                                                  show_default=False)] = None,
    rollout_name: Annotated[str | None, typer.Option("--rollout-name", help="Argo: the Rollout's name.",
                                                     show_default=False)] = None,
    container: Annotated[str | None, typer.Option("--container", help="Argo: the container to update.",
                                                  show_default=False)] = None,
    image: Annotated[str | None, typer.Option("--image", help="Argo: the candidate image.",
                                              show_default=False)] = None,
    timeout: Annotated[float, typer.Option("--timeout", min=1.0, help="Argo: abort an undecided canary "
                                           "after this many seconds.")] = 900.0,
) -> None:
    """Run a canary of --candidate against --stable: exit 0 promoted, 1 aborted or timed out, 2 bad input."""
    if ctx.invoked_subcommand is not None:
        return
    opts = CanaryOptions(backend=backend, service=service, stable=stable, candidate=candidate, out_dir=out_dir,
                         as_json=as_json, time_scale=time_scale, rollout=rollout, analysis_template=analysis_template,
                         kubeconfig=kubeconfig, context=kube_context, namespace=namespace, rollout_name=rollout_name,
                         container=container, image=image, timeout=timeout)
    raise typer.Exit(run_command(opts, say=_say(as_json)))


@canary_app.command("check")
def check(
    folder: Annotated[Path, typer.Argument(help="The service's folder (its deploy/ holds the manifests).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the problems as JSON on stdout.")] = False,
) -> None:
    """Check the Rollout and AnalysisTemplate against Argo's CRD schemas and the known pitfalls; exit 1 on any."""
    from crew.canary.manifests import CRD_ENV, check_manifests, find_crds, load_manifests
    from crew.cli import err
    from crew.escape import terminal

    if not folder.is_dir():
        raise BadInputError(f"{folder} is not a folder")
    crds = find_crds()
    found = load_manifests(folder)
    problems = check_manifests(found, crds)
    if as_json:
        print(json.dumps({"problems": problems, "schema_checked": crds is not None}, indent=2))
    else:
        for line in problems:
            print(terminal(line, markup=False))  # one problem a line, never wrapped: grep-able
        if crds is None:
            err.print(f"schemas not checked: the Argo Rollouts CRDs were not found (set {CRD_ENV})", markup=False)
        if not problems:
            err.print(f"{folder}: no problems in {len(found.rollouts)} Rollout(s) and "
                      f"{len(found.templates) + len(found.cluster_templates)} analysis template(s)", markup=False,
                      highlight=False)
    raise typer.Exit(1 if problems else 0)


@canary_app.command("init")
def init(
    folder: Annotated[Path, typer.Argument(help="The service's folder; deploy/ is created in it.")],
    name: Annotated[str | None, typer.Option("--name", help="The service's name (default: the folder's).",
                                             show_default=False)] = None,
    namespace: Annotated[str, typer.Option("--namespace", help="Its namespace.")] = "default",
    container: Annotated[str | None, typer.Option("--container", help="Its container (default: the name).",
                                                  show_default=False)] = None,
    image: Annotated[str | None, typer.Option("--image", help="Its image (default: NAME:latest).",
                                              show_default=False)] = None,
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Its container port.")] = 8080,
) -> None:
    """Write the default canary pair: Rollout (20 %, pause, analysis, 50 %, pause, analysis, 100 %) and template."""
    import re

    from crew.canary.manifests import write_default_manifests
    from crew.cli import err

    if not folder.is_dir():
        raise BadInputError(f"{folder} is not a folder")
    service = name or folder.resolve().name
    if not re.fullmatch(r"[a-z0-9]([-a-z0-9]{0,50}[a-z0-9])?", service):
        raise BadInputError(f"--name {service!r} is not a Kubernetes name (lower case letters, digits and '-')")
    for path in write_default_manifests(folder, service, namespace, container=container, image=image, port=port):
        err.print(f"wrote {path}", markup=False, highlight=False)
