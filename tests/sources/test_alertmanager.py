"""Alertmanager webhook (v4) parsing, crash-alert selection and OOM recognition."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from crew.errors import BadInputError
from crew.handoffs import AlertInfo
from crew.sources.alertmanager import (
    MAX_PAYLOAD_BYTES,
    alert_target,
    alert_termination,
    load_payload,
    parse_webhook,
    pick_crash_alert,
)

CRASH_LABELS = {
    "alertname": "KubePodCrashLooping", "container": "pricing", "job": "kube-state-metrics",
    "namespace": "shop", "pod": "pricing-service-6f9c7d8b5-x2kqp", "reason": "CrashLoopBackOff",
    "service": "kube-prometheus-stack-kube-state-metrics", "severity": "warning",
}


def wire_alert(status: str = "firing", **labels: str) -> dict[str, Any]:
    return {
        "status": status,
        "labels": {**CRASH_LABELS, **labels},
        "annotations": {"summary": "Pod is crash looping."},
        "startsAt": "2026-11-04T02:13:47.218Z",
        "endsAt": "2026-11-04T02:40:00Z" if status == "resolved" else "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus:9090/graph?g0.expr=x",
        "fingerprint": "a3c91f07d25be648",
    }


def payload(*alerts: dict[str, Any], status: str = "firing") -> dict[str, Any]:
    return {
        "version": "4", "receiver": "healcrew", "status": status, "alerts": list(alerts) or [wire_alert()],
        "groupLabels": {"alertname": "KubePodCrashLooping"}, "commonLabels": {"namespace": "shop"},
        "commonAnnotations": {}, "externalURL": "http://alertmanager:9093",
        "groupKey": '{}:{alertname="KubePodCrashLooping"}', "truncatedAlerts": 0,
    }


def test_firing_alert_fields() -> None:
    (alert,) = parse_webhook(payload())
    assert alert.status == "firing"
    assert alert.alertname == "KubePodCrashLooping"
    assert alert.labels["pod"] == "pricing-service-6f9c7d8b5-x2kqp"
    assert alert.annotations == {"summary": "Pod is crash looping."}
    assert alert.fingerprint == "a3c91f07d25be648"
    assert alert.starts_at == datetime(2026, 11, 4, 2, 13, 47, 218000, tzinfo=UTC)
    assert alert.ends_at is None  # Alertmanager's zero time means "still firing"
    assert alert.generator_url.startswith("http://prometheus:9090/")


def test_resolved_alert_has_end_time() -> None:
    (alert,) = parse_webhook(payload(wire_alert("resolved"), status="resolved"))
    assert alert.status == "resolved"
    assert alert.ends_at == datetime(2026, 11, 4, 2, 40, tzinfo=UTC)


def test_bytes_and_text_payloads_parse_like_objects() -> None:
    body = json.dumps(payload())
    assert parse_webhook(body) == parse_webhook(body.encode()) == parse_webhook(payload())


def test_grouped_alerts_keep_order_and_unknown_fields_are_ignored() -> None:
    first = wire_alert(pod="pricing-a-6f9c7d8b5-aaaaa")
    second = wire_alert("resolved", pod="pricing-b-6f9c7d8b5-bbbbb")
    second["fingerprint"] = "0123456789abcdef"
    body = payload(first, second)
    body["someFutureField"] = {"x": 1}
    first["anotherFutureField"] = True
    alerts = parse_webhook(body)
    assert [a.labels["pod"] for a in alerts] == ["pricing-a-6f9c7d8b5-aaaaa", "pricing-b-6f9c7d8b5-bbbbb"]
    assert [a.status for a in alerts] == ["firing", "resolved"]
    assert alerts[1].fingerprint == "0123456789abcdef"
    model = load_payload(body)
    assert model.group_key == '{}:{alertname="KubePodCrashLooping"}'
    assert model.common_labels == {"namespace": "shop"}


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda p: p.update(status="burning"), "status"),
        (lambda p: p.update(alerts=[]), "alerts"),
        (lambda p: p.update(version="3"), "version"),
        (lambda p: p["alerts"][0].pop("labels"), "alerts.0.labels"),
        (lambda p: p["alerts"][0]["labels"].pop("alertname"), "alertname"),
        (lambda p: p["alerts"][0].update(startsAt="yesterday"), "alerts.0.startsAt"),
        (lambda p: p["alerts"][0]["labels"].update(pod=7), "alerts.0.labels.pod"),
        (lambda p: p.update(truncatedAlerts=-1), "truncatedAlerts"),
        # what the store's columns could not hold (PostgreSQL would refuse it with a 500 later)
        (lambda p: p["alerts"][0].update(fingerprint="f" * 129), "alerts.0.fingerprint: longer than 128"),
        (lambda p: p["alerts"][0]["labels"].update(alertname="A" * 201), "labels.alertname: longer than 200"),
        (lambda p: p["alerts"][0]["labels"].update(service="s" * 201), "labels.service: longer than 200"),
        (lambda p: p["alerts"][0]["labels"].update(image="i" * 1025), "labels.image: longer than 1024"),
        (lambda p: p["alerts"][0]["labels"].update({"n" * 201: "v"}), "longer than 200"),
    ],
)
def test_malformed_payload_is_bad_input_naming_the_field(mutate: Any, expected: str) -> None:
    body = copy.deepcopy(payload())
    mutate(body)
    with pytest.raises(BadInputError) as err:
        parse_webhook(body)
    message = str(err.value)
    assert expected in message
    assert "\n" not in message


@pytest.mark.parametrize("body", ["not json", "[1, 2]", b"\xff\xfe{", "null"])
def test_non_object_payload_is_bad_input(body: str | bytes) -> None:
    with pytest.raises(BadInputError, match="alert payload"):
        parse_webhook(body)


def test_long_but_legal_labels_pass() -> None:
    body = payload()
    body["alerts"][0]["labels"].update(image="i" * 1024, service="s" * 200)
    body["alerts"][0]["fingerprint"] = "f" * 128
    assert parse_webhook(body)[0].labels["image"] == "i" * 1024


def test_oversized_payload_is_rejected_before_parsing() -> None:
    big = payload()
    big["alerts"][0]["annotations"]["description"] = "x" * MAX_PAYLOAD_BYTES
    with pytest.raises(BadInputError, match="limit"):
        parse_webhook(big)
    with pytest.raises(BadInputError, match="limit"):
        parse_webhook(json.dumps(big).encode())


def _info(alertname: str, status: str = "firing", **labels: str) -> AlertInfo:
    return AlertInfo(status=status, alertname=alertname, labels={"alertname": alertname, **labels})  # type: ignore[arg-type]


def test_pick_crash_alert_prefers_firing_specific_alerts() -> None:
    watchdog = _info("Watchdog")
    crash = _info("KubePodCrashLooping", pod="a")
    oom = _info("KubeContainerOOMKilled", pod="b")
    resolved_oom = _info("KubeContainerOOMKilled", "resolved", pod="c")
    assert pick_crash_alert([watchdog, crash, oom]) is oom
    assert pick_crash_alert([watchdog, resolved_oom, crash]) is crash
    assert pick_crash_alert([watchdog]) is None
    assert pick_crash_alert([watchdog, resolved_oom]) is resolved_oom  # a replay still has a time
    by_reason = _info("CustomPodDown", reason="CrashLoopBackOff")
    assert pick_crash_alert([watchdog, by_reason]) is by_reason


def test_alert_target_ignores_the_scrapers_service_label() -> None:
    (alert,) = parse_webhook(payload())
    target = alert_target(alert)
    assert (target.namespace, target.pod, target.container) == ("shop", "pricing-service-6f9c7d8b5-x2kqp", "pricing")
    assert target.service == "pricing"  # not kube-state-metrics
    assert target.starts_at == alert.starts_at
    own = _info("KubePodCrashLooping", service="pricing-service", job="kube-state-metrics", container="c")
    assert alert_target(own).service == "pricing-service"
    bare = _info("KubePodCrashLooping", pod="orders-worker-7d9f8c6b54-x7k2p")
    assert alert_target(bare).service == "orders-worker"


@pytest.mark.parametrize(
    ("labels", "annotations"),
    [
        ({"reason": "OOMKilled"}, {}),
        ({}, {"reason": "OOMKilled"}),
        ({"exit_code": "137"}, {}),
        ({}, {"exitCode": "137"}),
    ],
)
def test_oom_is_recognised_from_reason_or_exit_code(labels: dict[str, str], annotations: dict[str, str]) -> None:
    alert = AlertInfo(status="firing", alertname="KubePodCrashLooping", labels=labels, annotations=annotations)
    term = alert_termination([alert])
    assert term is not None
    assert term.kind == "oom_killed"
    assert term.reason == "OOMKilled"
    assert term.exit_code == 137


def test_no_termination_for_plain_crashloop_or_other_exit_codes() -> None:
    assert alert_termination(parse_webhook(payload())) is None
    exit1 = AlertInfo(status="firing", alertname="KubePodCrashLooping", labels={"exit_code": "1", "reason": "Error"})
    assert alert_termination([exit1]) is None
    assert alert_termination([]) is None


def test_oom_alertname_alone_is_an_oom() -> None:
    term = alert_termination([_info("Watchdog"), _info("KubeContainerOOMKilled")])
    assert term is not None and term.kind == "oom_killed"
