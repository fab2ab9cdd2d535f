"""The service config: which repository, log source and policy serve each alerting service."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from crew.errors import BadInputError, describe_validation_error


class RepoConfig(BaseModel):
    """Where a service's code is: a local path or URL, and the commit that is deployed."""

    model_config = ConfigDict(extra="forbid")

    path: str | None = Field(default=None, description="Local git repository.")
    url: str | None = Field(default=None, description="Remote git URL (cloned by the worker).")
    branch: str = Field(default="HEAD", description="Branch or commit deployed when no label says.")
    commit_label: str | None = Field(default=None, description="Alert label holding the deployed commit.")

    @model_validator(mode="after")
    def _one_place(self) -> RepoConfig:
        if (self.path is None) == (self.url is None):
            raise ValueError("give exactly one of path or url")
        return self


class LogConfig(BaseModel):
    """Where the crash log comes from: Loki, the Kubernetes API (previous container), or a file."""

    model_config = ConfigDict(extra="forbid")

    file: str | None = Field(default=None, description="A log file (local use and tests).")
    loki_url: str | None = Field(default=None, description="Loki base URL.")
    loki_selector: str | None = Field(default=None, description="LogQL stream selector.")
    kubernetes: bool = Field(default=False, description="Read the previous container's log via the API.")

    @model_validator(mode="after")
    def _one_source(self) -> LogConfig:
        chosen = [self.file is not None, self.loki_url is not None, self.kubernetes]
        if sum(chosen) != 1:
            raise ValueError("give exactly one log source: file, loki_url or kubernetes")
        if self.loki_url is not None and not self.loki_selector:
            raise ValueError("loki_url needs loki_selector")
        return self


class ServiceCanary(BaseModel):
    """The canary a delivered fix gets in service mode, when its RepairPolicy lets one start by itself."""

    model_config = ConfigDict(extra="forbid")

    backend: Literal["off", "local", "argo"] = Field(default="off", description=(
        "local: both builds on this machine, on the service's own Rollout and AnalysisTemplate; "
        "argo: the cluster's Rollout; off: no canary."))
    time_scale: float | None = Field(default=None, gt=0, le=100, description=(
        "local: factor on every pause, interval and range of the Rollout (default: the engine's)."))
    image: str | None = Field(default=None, description=(
        "argo: the candidate image, built from the fix branch by the operator's CI; {commit} and {branch} "
        "are replaced by the delivered fix's (e.g. registry.example.com/pricing:{commit})."))
    rollout: str | None = Field(default=None, description="argo: the Rollout's name; default: the service's name.")
    namespace: str | None = Field(default=None, description="argo: the Rollout's namespace; default: the alert's.")
    container: str | None = Field(default=None, description=(
        "argo: the pod template's container that gets the image; default: the alert's container label."))

    @model_validator(mode="after")
    def _argo_has_an_image(self) -> ServiceCanary:
        if self.backend == "argo" and not self.image:
            raise ValueError("the argo canary needs image (the fix branch's image, e.g. with {commit})")
        return self


class ServiceEntry(BaseModel):
    """One service healcrew may repair."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="Matches the alert's service label.")
    namespace: str | None = Field(default=None, description="With container: match by namespace+container.")
    container: str | None = Field(default=None, description="The alert's container label, matched with namespace.")
    repo: RepoConfig
    logs: LogConfig
    test_command: str = Field(default="python -m pytest -q",
                              description="The repo's test command, run in the sandbox only.")
    policy: str | None = Field(default=None, description="RepairPolicy YAML file.")
    deliver: str | None = Field(default=None, description="Forge to deliver to; None: local review bundle.")
    delivery: dict[str, Any] = Field(default_factory=dict, description="DeliveryConfig fields.")
    canary: ServiceCanary = Field(default_factory=ServiceCanary, description=(
        "The canary after delivery; it starts only when the RepairPolicy's canary_autostart allows it."))


class ServiceConfig(BaseModel):
    """The whole ``healcrew serve`` config file."""

    model_config = ConfigDict(extra="forbid")

    services: list[ServiceEntry] = Field(default_factory=list)
    out_dir: str = Field(default="healcrew-runs", description="Where run reports and review bundles go.")
    fold_window_minutes: int = Field(default=60, ge=0, description="A fixed incident still absorbs repeats.")
    public_url: str | None = Field(default=None, description=(
        "Where people reach this service (e.g. https://healcrew.example.com); PRs link the incident's page there."))
    brain: Literal["offline", "llm", "auto"] = Field(
        default="auto", description="auto: llm when ANTHROPIC_API_KEY is set, else offline; --brain overrides.")

    def service_for(self, labels: dict[str, str]) -> ServiceEntry | None:
        """The entry an alert's labels name: ``service``, else namespace+container."""
        name = labels.get("service")
        for entry in self.services:
            if name and entry.name == name:
                return entry
        ns, ctr = labels.get("namespace"), labels.get("container")
        for entry in self.services:
            if entry.namespace and entry.container and entry.namespace == ns and entry.container == ctr:
                return entry
        return None


def load_service_config(path: Path | None) -> ServiceConfig:
    """Read and validate the YAML file; an absent path is an empty config."""
    if path is None:
        return ServiceConfig()
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise BadInputError(f"cannot read service config {path}: {str(exc).splitlines()[0]}") from None
    try:
        config = ServiceConfig.model_validate(raw or {})
    except ValidationError as exc:
        raise BadInputError(f"service config {path}: {describe_validation_error(exc, 'config')}") from None
    base = path.parent
    if not Path(config.out_dir).is_absolute():
        config.out_dir = str((base / config.out_dir).resolve())
    for entry in config.services:
        if entry.repo.path and not Path(entry.repo.path).is_absolute():
            entry.repo.path = str((base / entry.repo.path).resolve())
        if entry.logs.file and not Path(entry.logs.file).is_absolute():
            entry.logs.file = str((base / entry.logs.file).resolve())
        if entry.policy and not Path(entry.policy).is_absolute():
            entry.policy = str((base / entry.policy).resolve())
    return config


def config_schema() -> str:
    """The JSON schema of the config file, as committed in docs/service-config.schema.json."""
    return json.dumps(ServiceConfig.model_json_schema(), indent=2, sort_keys=True) + "\n"
