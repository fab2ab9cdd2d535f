"""``healcrew serve``: run the webhook service under uvicorn."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

serve_app = typer.Typer(help="Run the Alertmanager webhook service.")


@serve_app.callback(invoke_without_command=True)
def serve(
    host: Annotated[str, typer.Option("--host", help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port to bind.")] = 8080,
    config: Annotated[Path | None, typer.Option("--config", help="Service config YAML.")] = None,
    workers: Annotated[int, typer.Option("--workers", min=1, max=32, help="Worker threads.")] = 1,
    state: Annotated[str, typer.Option("--state", help="SQLAlchemy URL of the state database.")] =
        "sqlite:///healcrew-service.db",
    audit_log: Annotated[Path | None, typer.Option("--audit-log", help="Audit log file.")] = None,
    brain: Annotated[str | None, typer.Option("--brain", help="offline, llm or auto (default: the config's, auto).",
                                              show_default=False)] = None,
    executor: Annotated[str, typer.Option("--executor", help="local: runs in this process's children; argo: "
                                          "each incident as an Argo Workflow.")] = "local",
    argo_server: Annotated[str | None, typer.Option("--argo-server", envvar="ARGO_SERVER",
                                                    help="Argo Server URL (--executor argo).")] = None,
    argo_namespace: Annotated[str, typer.Option("--argo-namespace", help="Namespace of the Workflows.")] =
        "healcrew",
    image: Annotated[str | None, typer.Option("--image", help="healcrew image the Workflow steps run.")] = None,
    sandbox_image: Annotated[str | None, typer.Option(
        "--sandbox-image", envvar="HEALCREW_SANDBOX_IMAGE", help="Image the Workflow's sandbox pods run the repo's "
        "code in; it must hold the repo's runtime and test dependencies (default: the healcrew image).")] = None,
) -> None:
    """Accept alerts, queue incidents, run fixes; needs HEALCREW_WEBHOOK_TOKEN or HEALCREW_WEBHOOK_HMAC_KEY."""
    import uvicorn

    from crew.audit import AuditLog, default_audit_path
    from crew.brain.choice import resolve_brain
    from crew.errors import BadInputError
    from crew.service.app import create_app
    from crew.service.auth import secrets_from_env
    from crew.service.config import load_service_config
    from crew.service.worker import FlowPipeline

    if executor not in ("local", "argo"):
        raise BadInputError(f"--executor must be local or argo, not {executor!r}")
    secrets = secrets_from_env()
    service_config = load_service_config(config)
    chosen, settings, note = resolve_brain(brain or service_config.brain)
    typer.echo(note, err=True)
    from crew.service.metrics import Metrics
    from crew.service.store import Store

    store = Store(state)
    pipeline: Any
    if executor == "argo":  # each incident becomes a Workflow; the service keeps the policy and the store
        from crew.workflows.executor import ArgoPipeline, store_progress
        from crew.workflows.settings import ArgoSettings

        argo = ArgoSettings.model_validate({"server": argo_server or "", "namespace": argo_namespace,
                                            **({"image": image} if image else {}),
                                            **({"sandbox_image": sandbox_image} if sandbox_image else {})})
        pipeline = ArgoPipeline(argo, Path(service_config.out_dir), Metrics(), progress=store_progress(store))
    else:
        pipeline = FlowPipeline(Path(service_config.out_dir), Metrics(), processes=workers)
    # Only the local executor runs sandboxes on this machine's Docker engine; with argo, the Workflow's pods do,
    # so a healcrew pod in a cluster (no engine) is ready without one.
    app = create_app(store, service_config, secrets, pipeline, workers=workers,
                     audit=AuditLog(audit_log or default_audit_path()),
                     check_docker=executor == "local")  # type: ignore[arg-type]
    pipeline.metrics = app.state.metrics
    pipeline.brain = (chosen, settings.model_dump() if settings is not None else None)
    from crew.cli import _sweep
    from sandbox.sweep import owned_tempdir

    if executor == "local":
        _sweep("docker")  # sandbox containers and temp folders of a serve that was killed (kill -9) mid-run
    with owned_tempdir():  # this process's temp files, so the next start's sweep can find them
        try:
            uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
        finally:
            pipeline.close()
