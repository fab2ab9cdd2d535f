"""Start-up failures without a traceback: the patterns we recognise, and the look-alikes we must not."""

from __future__ import annotations

import pytest

from crew.logline import LogLine
from crew.sources.startup import find_startup_failure


def lines(*texts: str) -> list[LogLine]:
    return [LogLine(text=t) for t in texts]


PYDANTIC_SETTINGS = (
    "2026-03-14 02:00:00,001 INFO booting pricing 1.4.0",
    "2026-03-14 02:00:00,120 ERROR invalid configuration: 2 validation errors for Settings",
    "database_url",
    "  Field required [type=missing, input_value={}, input_type=dict]",
    "    For further information visit https://errors.pydantic.dev/2.12/v/missing",
    "port",
    "  Input should be a valid integer, unable to parse string as an integer [type=int_parsing]",
    "",
    "stream closed",
)


def test_pydantic_settings_error_keeps_the_field_lines() -> None:
    term = find_startup_failure(lines(*PYDANTIC_SETTINGS))
    assert term is not None
    assert (term.kind, term.reason) == ("startup_failure", "config_validation")
    detail = term.detail.splitlines()
    assert detail[0].endswith("2 validation errors for Settings")
    assert "database_url" in detail and any(d.startswith("Field required") for d in detail)
    assert "stream closed" not in term.detail


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("RuntimeError: environment variable DATABASE_URL is not set", "missing_env"),
        ("ERROR Missing environment variable: 'STRIPE_API_KEY'", "missing_env"),
        ("fatal: REDIS_URL environment variable is required", "missing_env"),
        ("ModuleNotFoundError: No module named 'pricing.settings'", "import_error"),
        ("ImportError: cannot import name 'calc' from 'app.pricing' (/app/app/pricing.py)", "import_error"),
        ('ERROR:    Error loading ASGI app. Could not import module "main".', "asgi_app"),
        ('ERROR:    Error loading ASGI app. Attribute "app" not found in module "main".', "asgi_app"),
        ("[2026-03-14 02:00:01 +0000] [1] [INFO] Reason: Worker failed to boot.", "wsgi_app"),
        ("Failed to find attribute 'application' in 'pricing.wsgi'.", "wsgi_app"),
        ("Error: Invalid value for '--port': 'eighty' is not a valid integer.", "bad_cli_option"),
        ("Error: Missing option '--config'.", "bad_cli_option"),
        ("pricing: error: argument --workers: invalid int value: 'many'", "bad_cli_option"),
        ("ERROR:    [Errno 98] error while attempting to bind on address ('0.0.0.0', 8080): address already in use",
         "address_in_use"),
    ],
)
def test_one_line_start_up_failures(text: str, reason: str) -> None:
    term = find_startup_failure(lines("INFO starting", text, "INFO shutting down"))
    assert term is not None
    assert (term.kind, term.reason) == ("startup_failure", reason)
    assert term.detail == text.strip()


def test_exit_code_line_is_the_last_resort_with_context() -> None:
    term = find_startup_failure(lines("INFO starting", "WARN cache dir missing", "pricing-1 exited with code 3"))
    assert term is not None
    assert (term.reason, term.exit_code) == ("exited", 3)
    assert term.detail.splitlines() == ["INFO starting", "WARN cache dir missing", "pricing-1 exited with code 3"]
    supervisord = find_startup_failure(lines("INFO exited: pricing (exit status 2; not expected)"))
    assert supervisord is not None and supervisord.exit_code == 2


def test_specific_pattern_beats_exit_line_and_latest_occurrence_wins() -> None:
    term = find_startup_failure(lines(
        "environment variable OLD_URL is not set", "environment variable DATABASE_URL is not set",
        "app exited with code 1",
    ))
    assert term is not None
    assert term.reason == "missing_env" and "DATABASE_URL" in term.detail


@pytest.mark.parametrize(
    "texts",
    [
        ("INFO request ok", "app exited with code 0"),
        ("KeyError: 'DATABASE_URL'",),  # alone, as often a data bug as a config one
        ("ERROR 1 validation error for Order", "quantity", "  Input should be greater than 0"),  # a data model
        ("INFO GET /health 200", "WARNING slow request 2.3s"),
        ("DEBUG checking environment variable FOO",),
        ("INFO the user typed Error: Invalid value for '--port' in a chat message",),
        (),
    ],
)
def test_ordinary_lines_are_not_start_up_failures(texts: tuple[str, ...]) -> None:
    assert find_startup_failure(lines(*texts)) is None
