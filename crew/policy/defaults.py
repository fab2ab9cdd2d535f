"""The paths and kinds of file a fix must never touch, whatever the repository says.

A crash fix has no business in a repository's CI definitions (they run with the project's
secrets), its secrets and credentials, its access-control manifests, the user a container runs
as, or healcrew's own configuration: a change there is a change of who may do what, and must
be made by a human. Patterns use gitignore syntax (``pathspec``): a pattern without a slash
matches a file or folder of that name at any depth; a trailing slash matches a folder.
Matching ignores case, so ``Secrets/`` and ``.ENV`` are caught too.
"""

from __future__ import annotations

CI_PATTERNS: tuple[str, ...] = (
    ".github/",  # GitHub Actions workflows, and the repo's own automation settings
    ".gitlab-ci.yml", ".gitlab-ci.yaml", ".gitlab/", ".gitlab-ci/",
    ".circleci/",
    "Jenkinsfile", "Jenkinsfile.*", "*.jenkinsfile", ".jenkins/",
    "azure-pipelines.yml", "azure-pipelines.yaml", "azure-pipelines/", ".azure-pipelines/", ".azuredevops/",
    ".buildkite/",
    ".travis.yml", ".travis.yaml",
    "bitbucket-pipelines.yml",
    ".drone.yml", ".drone.yaml",
    ".woodpecker.yml", ".woodpecker.yaml", ".woodpecker/",
    "appveyor.yml", ".appveyor.yml",
    "cloudbuild.yaml", "cloudbuild.yml", "buildspec.yml", "buildspec.yaml",
    ".tekton/", "codefresh.yml", ".semaphore/", "wercker.yml", ".gitpod.yml",
    ".pre-commit-config.yaml",  # runs on every developer's machine
    "ci/", ".ci/",
)

SECRET_PATTERNS: tuple[str, ...] = (
    "secrets/", "secret/", ".secrets/", "*.secret", "*.secrets",
    ".env", ".env.*", "*.env",
    "*.pem", "*.key", "*.crt", "*.cer", "*.der", "*.p12", "*.pfx", "*.jks", "*.keystore", "*.kdbx",
    "*.gpg", "*.asc", "*.ovpn",
    "credentials", "credentials.*", "credentials/", "*credentials*.json", "*credentials*.y*ml",
    "service-account*.json", "*-sa.json", "*serviceaccount*.json",
    "id_rsa*", "id_dsa*", "id_ecdsa*", "id_ed25519*", "*.ppk", "known_hosts", "authorized_keys",
    ".ssh/", ".gnupg/", ".aws/", ".azure/", ".gcloud/", ".kube/", "kubeconfig", "kubeconfig.*",
    ".npmrc", ".pypirc", ".netrc", ".pgpass", ".dockercfg", ".docker/", ".git-credentials", ".htpasswd",
    "*.tfvars", "*.tfstate", "*.tfstate.*", "vault.y*ml", "sealed-secrets/", "*sealedsecret*",
)

ACCESS_PATTERNS: tuple[str, ...] = (
    "rbac/", "*rbac*.y*ml", "*rbac*.json", "iam/", "*iam*.tf", "*iam*.json", "*-policy.json",
    "networkpolic*/", "*networkpolic*.y*ml", "*network-polic*.y*ml", "*podsecuritypolic*", "psp/",
    "*clusterrole*.y*ml", "*rolebinding*.y*ml", "*serviceaccount*.y*ml", "*service-account*.y*ml",
    "CODEOWNERS",
)

HEALCREW_PATTERNS: tuple[str, ...] = (".healcrew.yaml", ".healcrew.yml")

# Kept from the first policy: schema migrations and lock files need a human too.
OTHER_PATTERNS: tuple[str, ...] = ("migrations/", "*.lock")

DEFAULT_FORBIDDEN: tuple[str, ...] = (
    *CI_PATTERNS, *SECRET_PATTERNS, *ACCESS_PATTERNS, *HEALCREW_PATTERNS, *OTHER_PATTERNS,
)

# Kubernetes (and OpenShift, Istio, Cilium) kinds that grant or limit access.
FORBIDDEN_KINDS: frozenset[str] = frozenset({
    "Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding", "ServiceAccount", "NetworkPolicy",
    "PodSecurityPolicy", "SecurityContextConstraints", "AuthorizationPolicy", "PeerAuthentication",
    "CiliumNetworkPolicy", "CiliumClusterwideNetworkPolicy", "GlobalNetworkPolicy", "Secret", "SealedSecret",
    "ValidatingWebhookConfiguration", "MutatingWebhookConfiguration", "ValidatingAdmissionPolicy",
})

# Terraform resources that grant access (AWS, GCP, Azure).
TERRAFORM_ACCESS = (
    r'resource\s+"(aws_iam_\w+|google_\w*iam\w*|azurerm_role_\w+|azuread_\w+|kubernetes_(cluster_)?role\w*)"'
)
