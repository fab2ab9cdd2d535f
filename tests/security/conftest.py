"""The sandbox tests' fixtures (small repos, the base image, tight limits, leftover counting) serve
the attack tests too; imported here rather than written twice."""

from tests.sandbox.conftest import (  # noqa: F401
    base_image,
    docker_config,
    git_repo,
    no_leftover_containers,
    plain_repo,
    run_label,
)
