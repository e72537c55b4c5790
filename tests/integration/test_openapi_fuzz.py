"""Schemathesis against the app's own /openapi.json, served by a real uvicorn on loopback: no
server error, and every response matches what the schema declares (status, type, body)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from app.main import create_app
from app.settings import Settings
from tests.support.live import serving_in_thread

CHECKS = [
    schemathesis.checks.not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture
def live_url(settings: Settings) -> Iterator[str]:
    with serving_in_thread(create_app(settings)) as port:
        yield f"http://127.0.0.1:{port}"


def test_api_keeps_its_declared_contract(live_url: str) -> None:
    """Every operation, with generated valid and invalid input; failures are collected per
    operation so one run reports them all."""
    api_schema = schemathesis.openapi.from_url(f"{live_url}/openapi.json")
    failures: dict[str, str] = {}
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 12

    for operation in operations:

        @given(case=operation.as_strategy())
        @hypothesis_settings(
            max_examples=40,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case: schemathesis.Case) -> None:
            case.call_and_validate(checks=CHECKS, timeout=30)

        try:
            check()
        except Exception as exc:  # collect, then fail with every operation's problem
            failures[operation.label] = f"{type(exc).__name__}: {exc}"[:2000]

    assert not failures, "\n\n".join(f"{label}\n{text}" for label, text in failures.items())
