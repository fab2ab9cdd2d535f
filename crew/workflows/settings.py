"""Where and how incidents run as Argo Workflows (``serve --executor argo``)."""

from __future__ import annotations

import os

from pydantic import BaseModel, ConfigDict, Field

from crew import __version__


class ArgoSettings(BaseModel):
    """The Argo Server to submit to and the shape of each incident's Workflow."""

    model_config = ConfigDict(extra="forbid")

    server: str = Field(default="", description="Argo Server URL, e.g. https://argo-server.argo:2746.")
    namespace: str = Field(default="healcrew", description="Namespace the Workflows run in.")
    token_env: str = Field(default="ARGO_TOKEN", description="Environment variable holding the bearer token.")
    verify_tls: bool = Field(default=True, description="Verify the Argo Server's TLS certificate.")
    image: str = Field(default=f"healcrew:{__version__}", description="The healcrew image every step runs.")
    sandbox_image: str | None = Field(
        default=None, description="The image the repair step's sandbox pods run the repo's code in, as it is: it "
        "must hold python3 and the repo's runtime and test dependencies (e.g. the service's own test image), since "
        "a step cannot build images. Default: the healcrew image, which holds Python and pytest only.")
    sandbox_namespace: str | None = Field(
        default=None, description="Namespace of the sandbox pods; default: the Workflow's namespace.")
    service_account: str = Field(default="healcrew-stage", description="Service account of the step pods.")
    secret: str = Field(default="healcrew-tokens", description="Secret whose keys become the steps' environment.")
    active_deadline_seconds: int = Field(default=3600, ge=60, description="The whole Workflow's deadline.")
    step_deadline_seconds: int = Field(default=1800, ge=30, description="One step's deadline.")
    ttl_after_completion: int = Field(default=86400, ge=0, description="Seconds a finished Workflow is kept.")
    retries: int = Field(default=3, ge=0, le=10, description="Retries of a step that failed transiently.")
    backoff: str = Field(default="10s", description="First retry delay; doubled each time, at most 5 minutes.")
    poll_seconds: float = Field(default=2.0, gt=0, description="How often the executor reads the status.")

    def sandbox_env(self) -> dict[str, str]:
        """What a validating step's environment says to the kubernetes sandbox (``SandboxConfig``'s defaults)."""
        return {"HEALCREW_SANDBOX_IMAGE": self.sandbox_image or self.image,
                "HEALCREW_SANDBOX_NAMESPACE": self.sandbox_namespace or self.namespace}

    def token(self) -> str | None:
        """The bearer token from the environment (never stored in a config file)."""
        return os.environ.get(self.token_env) or None
