"""The crashed container's logs and termination, from the Kubernetes API.

``kubectl logs --previous`` is what a person runs first; this is the same call
(``read_namespaced_pod_log(previous=True, timestamps=True)``) plus the pod's container
status, which tells an OOM kill that no log line shows. The ``kubernetes`` package is
imported inside the functions: it is slow to import and most runs never need it.
"""

from __future__ import annotations

import json
import os
import re
from datetime import UTC, datetime
from typing import Any

from crew.errors import BadInputError, SourceError
from crew.handoffs import KubernetesSource, Termination
from crew.logline import LogLine

REQUEST_TIMEOUT = 30.0
_TIMESTAMP = re.compile(
    r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2}) ?"
)


def load_configuration(kubeconfig: str | None = None, context: str | None = None) -> Any:
    """A ``kubernetes.client.Configuration``: the given kubeconfig, in-cluster, or the default one.

    In-cluster is chosen only when no kubeconfig is named and the pod's service-account
    environment is present, as ``kubectl`` does.
    """
    from kubernetes import client, config
    from kubernetes.config.config_exception import ConfigException

    configuration = client.Configuration()
    try:
        if kubeconfig is None and os.environ.get("KUBERNETES_SERVICE_HOST"):
            config.load_incluster_config(client_configuration=configuration)
        else:
            config.load_kube_config(
                config_file=kubeconfig, context=context, client_configuration=configuration,
                persist_config=False,
            )
    except (ConfigException, OSError, TypeError, ValueError) as exc:
        where = kubeconfig or "the default kubeconfig"
        raise SourceError(f"cannot load Kubernetes configuration from {where}: {exc}") from None
    return configuration


def parse_timestamped(text: str, stream: str = "") -> list[LogLine]:
    """Lines as ``timestamps=True`` returns them: an RFC3339Nano prefix, a space, the line."""
    lines: list[LogLine] = []
    for raw in text.splitlines():
        m = _TIMESTAMP.match(raw)
        if m is None:
            lines.append(LogLine(text=raw, stream=stream))
            continue
        base, frac, zone = m.groups()
        micro = (frac or "").ljust(6, "0")[:6]
        stamp = datetime.fromisoformat(f"{base}.{micro}{'+00:00' if zone == 'Z' else zone}").astimezone(UTC)
        lines.append(LogLine(text=raw[m.end():], timestamp=stamp, stream=stream))
    return lines


def _api_error(exc: Any, what: str) -> SourceError:
    """One line out of an ``ApiException``: the API's own Status message when it sent one."""
    message = ""
    try:
        body = json.loads(exc.body) if exc.body else {}
        message = body.get("message", "") if isinstance(body, dict) else ""
    except (TypeError, ValueError):
        message = " ".join(str(exc.body or "").split())[:200]
    status = getattr(exc, "status", None)
    if status == 404:
        return SourceError(f"{what}: not found ({message or exc.reason})")
    if status in (401, 403):
        return SourceError(f"{what}: access denied ({status}): {message or exc.reason}")
    return SourceError(f"{what}: Kubernetes API answered {status}: {message or exc.reason}")


def _bearer_prefix_compat(configuration: Any) -> None:
    """Keep the pre-36 spelling ``api_key_prefix["authorization"] = "Bearer"`` working.

    kubernetes 36 still reads the token under ``api_key["authorization"]`` but looks its
    prefix up only under ``"BearerToken"``, so such a configuration sends the bare token
    and the API server answers 401.
    """
    prefixes = configuration.api_key_prefix
    if "authorization" in prefixes and "BearerToken" not in prefixes:
        prefixes["BearerToken"] = prefixes["authorization"]


def _core(configuration: Any | None) -> Any:
    from kubernetes import client

    configuration = configuration or load_configuration()
    _bearer_prefix_compat(configuration)
    return client.CoreV1Api(client.ApiClient(configuration))


def _read_pod(api: Any, source: KubernetesSource) -> Any:
    from kubernetes.client.rest import ApiException
    from urllib3.exceptions import HTTPError

    what = f"pod {source.namespace}/{source.pod}"
    try:
        return api.read_namespaced_pod(source.pod, source.namespace, _request_timeout=REQUEST_TIMEOUT)
    except ApiException as exc:
        raise _api_error(exc, what) from None
    except HTTPError as exc:
        raise SourceError(f"{what}: Kubernetes API unreachable: {exc}") from None


def _statuses(pod: Any) -> list[Any]:
    status = pod.status
    if status is None:
        return []
    return list(status.container_statuses or []) + list(status.init_container_statuses or [])


def _crashed_container(pod: Any) -> str | None:
    """The container that restarted most (the crash-looping one) when the source names none."""
    statuses = _statuses(pod)
    if not statuses:
        return None
    return max(statuses, key=lambda s: (s.last_state is not None and s.last_state.terminated is not None,
                                        s.restart_count or 0)).name


# A crash loop's last crashes are at the end of the log: keep the tail, and bound what the API
# server may send at all, since the body is held in memory before it is parsed.
DEFAULT_TAIL_LINES = 100_000
MAX_LOG_BYTES = 64 * 1024 * 1024


def read_previous_logs(
    source: KubernetesSource, *, configuration: Any | None = None, tail_lines: int | None = DEFAULT_TAIL_LINES,
    limit_bytes: int = MAX_LOG_BYTES,
) -> list[LogLine]:
    """The (previous, by default) container's log lines with their timestamps, oldest first.

    At most the last ``tail_lines`` lines and ``limit_bytes`` bytes are read.
    """
    from kubernetes.client.rest import ApiException
    from urllib3.exceptions import HTTPError

    if not source.namespace or not source.pod:
        raise BadInputError("logs.kubernetes needs a namespace and a pod")
    api = _core(configuration)
    container = source.container or _crashed_container(_read_pod(api, source))
    what = f"logs of pod {source.namespace}/{source.pod}" + (f" container {container}" if container else "")
    kwargs: dict[str, Any] = {"previous": source.previous, "timestamps": True, "limit_bytes": limit_bytes}
    if container:
        kwargs["container"] = container
    if tail_lines is not None:
        kwargs["tail_lines"] = tail_lines
    try:
        # Raw bytes: the generated client json-decodes a "str" body, which mangles a log
        # that happens to be one JSON document.
        resp = api.read_namespaced_pod_log(
            source.pod, source.namespace, _preload_content=False, _request_timeout=REQUEST_TIMEOUT, **kwargs
        )
        data: bytes = resp.data
    except ApiException as exc:
        raise _api_error(exc, what) from None
    except HTTPError as exc:
        raise SourceError(f"{what}: Kubernetes API unreachable: {exc}") from None
    return parse_timestamped(data.decode("utf-8", errors="replace"), stream=f"{source.pod}/{container or ''}")


def termination_of(pod: Any, container: str | None = None) -> Termination | None:
    """How the container last ended (``lastState.terminated``, else ``state.terminated``)."""
    for status in _statuses(pod):
        if container and status.name != container:
            continue
        for state in (status.last_state, status.state):
            term = state.terminated if state is not None else None
            if term is None:
                continue
            reason, code = term.reason or "", term.exit_code
            detail = f"container {status.name}: {reason or 'terminated'}, exit code {code}" + (
                f": {term.message.strip()[:500]}" if term.message else ""
            )
            if reason == "OOMKilled" or code == 137:
                return Termination(kind="oom_killed", reason=reason or "OOMKilled", exit_code=code, detail=detail)
            if code:
                return Termination(kind="exit", reason=reason, exit_code=code, detail=detail)
    return None


def read_termination(source: KubernetesSource, *, configuration: Any | None = None) -> Termination | None:
    """The crashed container's termination from ``read_namespaced_pod``; None if it never ended badly."""
    if not source.namespace or not source.pod:
        raise BadInputError("logs.kubernetes needs a namespace and a pod")
    pod = _read_pod(_core(configuration), source)
    return termination_of(pod, source.container or _crashed_container(pod))
