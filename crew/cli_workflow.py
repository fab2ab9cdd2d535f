"""``healcrew workflow render`` and the hidden ``healcrew stage``: the Argo Workflows side of the CLI."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

workflow_app = typer.Typer(help="Incidents as Argo Workflows.", no_args_is_help=True)


@workflow_app.command("render")
def render_cmd(
    bundle: Annotated[Path, typer.Argument(help="Incident bundle folder.")],
    image: Annotated[str | None, typer.Option("--image", help="The healcrew image the steps run.")] = None,
    namespace: Annotated[str | None, typer.Option("--namespace", help="Namespace of the Workflow.")] = None,
    sandbox_image: Annotated[str | None, typer.Option(
        "--sandbox-image", help="The image the repair step's sandbox pods run the repo's code in (it must hold "
        "the repo's runtime and test dependencies); default: the healcrew image.")] = None,
) -> None:
    """Print the Workflow YAML that ``serve --executor argo`` would submit for BUNDLE."""
    from crew.bundle import load_bundle
    from crew.cli import cache_dir
    from crew.workflows.build import render
    from crew.workflows.settings import ArgoSettings

    incident = load_bundle(bundle, cache_dir())
    values: dict[str, object] = {}
    if image:
        values["image"] = image
    if namespace:
        values["namespace"] = namespace
    if sandbox_image:
        values["sandbox_image"] = sandbox_image
    typer.echo(render(incident, ArgoSettings.model_validate(values)), nl=False)


def stage_cmd(
    name: Annotated[str, typer.Argument(help="monitor, diagnose, repair, reflect, deliver or canary.")],
    src: Annotated[Path, typer.Option("--in", help="Input record: the Incident (monitor) or a FlowState.")],
    out: Annotated[Path, typer.Option("--out", help="Where the FlowState is written.")],
    params: Annotated[Path | None, typer.Option("--params", help="Folder for the output parameters.")] = None,
    report: Annotated[Path | None, typer.Option("--report", help="Where the RunReport is written.")] = None,
    delivery: Annotated[str | None, typer.Option("--delivery", help="Delivery settings JSON (deliver).")] = None,
    bundle_dir: Annotated[Path | None, typer.Option("--bundle-dir", help="Where delivery writes the review "
                                                    "bundle (deliver).")] = None,
    repo: Annotated[Path | None, typer.Option("--repo", help="The repo checkout, replacing the incident's.")] =
        None,
    sandbox: Annotated[str | None, typer.Option("--sandbox", help="Where repo code runs: docker, process, "
                                                "kubernetes (a pod per run) or auto; default: the state's.")] = None,
    canary: Annotated[str | None, typer.Option("--canary", help="Canary settings JSON: backend, time_scale, "
                                               "argo (canary).")] = None,
) -> None:
    """Run stage NAME of crew.flow on the record in --in; write the state to --out."""
    from crew.workflows import stages

    state = stages.run_stage(name, src, stages.json_object_arg(delivery, "--delivery"),
                             out_dir=str(bundle_dir) if bundle_dir else None, repo=str(repo) if repo else None,
                             sandbox=sandbox, canary=stages.json_object_arg(canary, "--canary"))
    stages.write(state, out, params)
    if report is not None and state.incident is not None:
        report.parent.mkdir(parents=True, exist_ok=True)
        report.write_text(stages.report_json(state), encoding="utf-8")
