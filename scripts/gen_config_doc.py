#!/usr/bin/env python3
"""Write docs/CONFIG.md from the pydantic models that read healcrew's configuration files.

The reference is generated so it cannot drift from the code: every field, its type, default and
description come from the models (``Policy``, ``DeliveryConfig``, ``RepairPolicy``, the service
config), and each example is validated by the same loader healcrew uses before it is written.

    python scripts/gen_config_doc.py           # rewrite docs/CONFIG.md
    python scripts/gen_config_doc.py --check   # exit 1 when docs/CONFIG.md is out of date (CI)

``--doc PATH`` reads or writes another file instead (the drift test uses it).
"""

from __future__ import annotations

import sys
import tempfile
import types
import typing
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

import yaml
from pydantic import BaseModel
from pydantic.fields import FieldInfo

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without installing

from crew.delivery.config import DeliveryConfig, GitHubConfig  # noqa: E402
from crew.policy.model import Policy  # noqa: E402
from crew.policy.repair_policy import RepairPolicy  # noqa: E402
from crew.policy.repo_file import CONFIG_FILE, REPO_DELIVERY_FIELDS  # noqa: E402
from crew.service.config import LogConfig, RepoConfig, ServiceCanary, ServiceConfig, ServiceEntry  # noqa: E402

DOC = ROOT / "docs" / "CONFIG.md"

REPO_EXAMPLE = """\
# .healcrew.yaml, at the root of the repository under repair. It may only narrow what healcrew does.
policy:
  forbidden_paths: ["app/payments/", "*.sql"]   # on top of the built-in ones, which always apply
  max_changed_lines: 20                         # may only be lowered
  max_files: 2                                  # may only be lowered
  allow_config_edits: false                     # may only be turned off
delivery:
  labels: [healcrew, bug, team-pricing]
  reviewers: [maya-lindqvist]
  base: default-branch
  default_branch: main
  draft_below_confidence: 0.8                   # may only be raised
  cooldown_hours: 48                            # may only be raised
"""

OPERATOR_EXAMPLE = """\
# The operator's file: --config FILE or $HEALCREW_CONFIG, kept outside the repository.
delivery:
  forge: github
  remote: origin
  push: true
  base: default-branch
  default_branch: main
  author_name: healcrew-bot
  author_email: healcrew-bot@users.noreply.github.com
  labels: [healcrew, bug]
  reviewers: [maya-lindqvist]
  draft_below_confidence: 0.7
  cooldown_hours: 24
  github:
    repo: acme/pricing-service
    token_env: GITHUB_TOKEN
    rate_limit: wait
    max_wait_seconds: 300
"""


# --------------------------------------------------------------------------- field rendering


def _type(annotation: Any) -> str:
    """A field's type in words a YAML author reads."""
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Literal:
        return " | ".join(f"`{a}`" for a in args)
    if origin in (typing.Union, types.UnionType):
        kept = [a for a in args if a is not type(None)]
        inner = " or ".join(_type(a) for a in kept)
        return f"{inner} (optional)" if len(kept) < len(args) else inner
    if origin is list:
        return f"list of {_type(args[0])}" if args else "list"
    if origin is dict:
        return "mapping"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return f"mapping ({annotation.__name__})"
    names = {str: "string", int: "integer", float: "number", bool: "boolean"}
    if isinstance(annotation, type) and annotation in names:
        return names[annotation]
    return getattr(annotation, "__name__", str(annotation))


def _bounds(field: FieldInfo) -> str:
    words = []
    for m in field.metadata:
        for attr, sign in (("ge", "≥"), ("gt", ">"), ("le", "≤"), ("lt", "<")):
            if getattr(m, attr, None) is not None:
                words.append(f"{sign} {getattr(m, attr)}")
        if getattr(m, "pattern", None):
            words.append(f"matches `{m.pattern}`")
    return ", ".join(words)


def _default(field: FieldInfo) -> str:
    if field.is_required():
        return "required"
    value = field.get_default(call_default_factory=True)
    if isinstance(value, BaseModel):
        return "see below"
    if value is None:
        return "none"
    text = yaml.safe_dump(value, default_flow_style=True, width=1000).strip().removesuffix("...").strip()
    return f"`{text}`"


def _model_doc(annotation: Any) -> str:
    """For a field holding a model (or a list of them) without a description: the model's own first line."""
    args = get_args(annotation)
    inner = args[0] if get_origin(annotation) is list and args else annotation
    if isinstance(inner, type) and issubclass(inner, BaseModel):
        return (inner.__doc__ or "").strip().splitlines()[0] if inner.__doc__ else ""
    return ""


def _doc(model: type[BaseModel]) -> str:
    """A model's docstring as Markdown (reST ``code`` becomes `code`)."""
    return " ".join((model.__doc__ or "").replace("``", "`").split())


def _cell(text: str) -> str:
    return " ".join(text.replace("``", "`").replace("|", "\\|").split())


def table(model: type[BaseModel], *, only: frozenset[str] | None = None, notes: dict[str, str] | None = None,
          prefix: str = "") -> list[str]:
    """One row per field: key, type, default, what it does."""
    rows = ["| key | type | default | what it does |", "|---|---|---|---|"]
    for name, field in model.model_fields.items():
        if only is not None and name not in only:
            continue
        kind = _type(field.annotation)
        bounds = _bounds(field)
        what = field.description or _model_doc(field.annotation) or "—"
        if notes and name in notes:
            what = f"{what} {notes[name]}".strip()
        rows.append(f"| `{prefix}{name}` | {_cell(kind + (f', {bounds}' if bounds else ''))} | "
                    f"{_cell(_default(field))} | {_cell(what)} |")
    return rows


# --------------------------------------------------------------------------- examples are checked


def _check_examples() -> None:
    """Each example loads through healcrew's own loaders, or the document is not written."""
    from crew.delivery.config import load_settings
    from crew.policy.repair_policy import load_repair_policy
    from crew.policy.repo_file import load_repo_settings
    from crew.service.config import load_service_config

    with tempfile.TemporaryDirectory() as tmp:
        repo, operator = Path(tmp) / "repo", Path(tmp) / "operator.yaml"
        repo.mkdir()
        (repo / CONFIG_FILE).write_text(REPO_EXAMPLE, encoding="utf-8")
        settings = load_repo_settings(repo)
        if settings.policy_notes or settings.delivery_notes:
            raise SystemExit(f"the {CONFIG_FILE} example sets keys healcrew ignores: {settings}")
        operator.write_text(OPERATOR_EXAMPLE, encoding="utf-8")
        loaded = load_settings(repo, operator)
        if loaded.notes or loaded.config.cooldown_hours != 48:  # the repository's higher cool-down applies
            raise SystemExit(f"the examples do not combine as documented: {loaded}")
    load_repair_policy(ROOT / "examples" / "service" / "repair-policy.yaml")
    load_service_config(ROOT / "examples" / "service" / "healcrew-service.yaml")


# --------------------------------------------------------------------------- the document


def render() -> str:
    _check_examples()
    repo_policy_notes = {
        "max_changed_lines": "The repository may only lower it.",
        "max_files": "The repository may only lower it.",
        "allow_config_edits": "The repository may only turn it off.",
        "forbidden_paths": "A `!pattern` that would lift a ban is ignored.",
    }
    only_up = {"draft_below_confidence": "The repository may only raise it.",
               "cooldown_hours": "The repository may only raise it."}
    operator_only = sorted(set(DeliveryConfig.model_fields) - REPO_DELIVERY_FIELDS)
    out = [
        "# Configuration reference",
        "",
        "<!-- Generated by scripts/gen_config_doc.py from the pydantic models; do not edit by hand. -->",
        "",
        "healcrew reads four kinds of configuration. Who writes each one decides what it may say: the "
        "repository under repair is untrusted, so its own file may only narrow what healcrew does; "
        "credentials, endpoints and remotes come only from the operator. Unknown keys are an error everywhere "
        "(one line naming the key).",
        "",
        "| file | written by | read by |",
        "|---|---|---|",
        f"| [`{CONFIG_FILE}`](#healcrewyaml-the-repositorys-file) | the repository's maintainers | "
        "`run`, `replay`, `serve` |",
        "| [operator config](#the-operator-config) (`--config FILE`, `$HEALCREW_CONFIG`) | the operator | "
        "`run`, `replay` |",
        "| [RepairPolicy](#repairpolicy) | the operator | `serve` (see [POLICY.md](POLICY.md)) |",
        "| [service config](#the-service-config) (`healcrew serve --config`) | the operator | `serve` "
        "(see [SERVICE.md](SERVICE.md)) |",
        "",
        "Precedence for delivery settings, weakest first: the defaults, the repository's "
        f"`{CONFIG_FILE}`, the operator config, the command-line flags.",
        "",
        f"## `{CONFIG_FILE}`: the repository's file",
        "",
        "At the root of the repository (never read through a symbolic link, at most "
        "64 KiB). Only the keys below are read; anything it says that would widen the policy is ignored with a "
        "note in the run report, and an operator-only delivery key (" + ", ".join(f"`{k}`" for k in operator_only)
        + ") is ignored the same way.",
        "",
        "```yaml",
        REPO_EXAMPLE.rstrip(),
        "```",
        "",
        "### `policy:`",
        "",
        _doc(Policy),
        "",
        *table(Policy, notes=repo_policy_notes),
        "",
        "### `delivery:`",
        "",
        "The delivery settings a repository may choose: none of them sends anything anywhere new.",
        "",
        *table(DeliveryConfig, only=REPO_DELIVERY_FIELDS, notes=only_up),
        "",
        "## The operator config",
        "",
        "A YAML file outside the repository (`--config FILE`, else `$HEALCREW_CONFIG`) with a `delivery:` "
        "section; any field may be set. A file inside the repository under repair is refused. Nothing is pushed "
        "unless the operator names a remote (`remote`, `remote_url`, `push: true`, or `--deliver github`).",
        "",
        "```yaml",
        OPERATOR_EXAMPLE.rstrip(),
        "```",
        "",
        "### `delivery:`",
        "",
        _doc(DeliveryConfig),
        "",
        *table(DeliveryConfig),
        "",
        "### `delivery.github:`",
        "",
        _doc(GitHubConfig) + " The token is read from the environment variable `token_env` "
        "names, never from a file.",
        "",
        *table(GitHubConfig),
        "",
        "## RepairPolicy",
        "",
        "A `kind: RepairPolicy` resource (`apiVersion: healcrew/v1alpha1`, `metadata.name` = the service); "
        "the keys below go under `spec`. Example: `examples/service/repair-policy.yaml`; how decisions are "
        "taken: [POLICY.md](POLICY.md).",
        "",
        *table(RepairPolicy, only=frozenset(RepairPolicy.model_fields) - {"service"}),
        "",
        "## The service config",
        "",
        "The file `healcrew serve --config` reads. Example: `examples/service/healcrew-service.yaml`; "
        "relative paths are relative to the file. More in [SERVICE.md](SERVICE.md).",
        "",
        *table(ServiceConfig),
        "",
        "### `services[]`",
        "",
        *table(ServiceEntry),
        "",
        "### `services[].repo`",
        "",
        _doc(RepoConfig) + " Exactly one of `path` and `url`.",
        "",
        *table(RepoConfig),
        "",
        "### `services[].logs`",
        "",
        _doc(LogConfig) + " Exactly one source; `loki_url` needs `loki_selector`.",
        "",
        *table(LogConfig),
        "",
        "### `services[].canary`",
        "",
        _doc(ServiceCanary) + " `argo` needs `image`.",
        "",
        *table(ServiceCanary),
        "",
    ]
    return "\n".join(out)


def main(argv: list[str]) -> int:
    doc = Path(argv[argv.index("--doc") + 1]) if "--doc" in argv[:-1] else DOC
    text = render()
    if "--check" in argv:
        if not doc.is_file() or doc.read_text(encoding="utf-8") != text:
            print(f"{doc.name} is out of date: run python scripts/gen_config_doc.py", file=sys.stderr)
            return 1
        return 0
    doc.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
