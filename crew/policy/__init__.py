"""Policy: what healcrew may touch, and who may say so.

In: a proposal's diff (with the repository's files at the deployed commit, to read what a
changed file declares), the operator's settings (flags, environment, an operator config file
outside the repository) and the repository's own ``.healcrew.yaml``.
Out: a ``Policy`` (the defaults, narrowed by the repository, never widened by it) and, for a
diff, the list of ``Refusal``s: each names a path and why a fix must not touch it. The same
check runs before the sandbox (a refused candidate is never run) and again before delivery.

Nothing a repository, a log line or an LLM says can widen the policy: the repository's file may
only add forbidden paths, lower the size limits and turn configuration edits off.
"""

from crew.policy.model import Policy
from crew.policy.repo_file import RepoSettings, load_repo_settings
from crew.policy.touch import Refusal, check_diff

__all__ = ["Policy", "Refusal", "RepoSettings", "check_diff", "load_repo_settings"]
