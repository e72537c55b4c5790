"""Webhook signing and settings: the specification's published test vector, secret rotation, the
settings' errors, what the API shows of an endpoint, and `Retry-After`."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest
from pydantic import ValidationError

from app.settings import Settings
from app.webhooks import new_secret, secret_key, shown_endpoint, signature
from worker.cli import main
from worker.webhooks import retry_after_s

# The Standard Webhooks specification's test vector (its reference libraries' tests).
VECTOR_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
VECTOR_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
VECTOR_TIMESTAMP = 1614265330
VECTOR_BODY = b'{"test": 2432232314}'
VECTOR_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def settings(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def test_signatures_match_the_specifications_test_vector() -> None:
    key = secret_key(VECTOR_SECRET)
    assert signature([key], VECTOR_ID, VECTOR_TIMESTAMP, VECTOR_BODY) == VECTOR_SIGNATURE


def test_each_secret_signs_while_one_is_rotated() -> None:
    keys = [secret_key(VECTOR_SECRET), secret_key(new_secret())]
    signed = signature(keys, VECTOR_ID, VECTOR_TIMESTAMP, VECTOR_BODY).split(" ")
    assert len(signed) == 2
    assert signed[0] == VECTOR_SIGNATURE
    assert signed[1].startswith("v1,") and signed[1] != VECTOR_SIGNATURE


def test_a_new_secret_is_32_random_bytes() -> None:
    secret = new_secret()
    assert len(secret_key(secret)) == 32
    assert secret != new_secret()


@pytest.mark.parametrize(
    ("secret", "problem"),
    [
        ("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "starts with 'whsec_'"),
        ("whsec_not base64!", "followed by base64"),
        ("whsec_" + base64.b64encode(b"short").decode(), "24 to 64 random bytes, not 5"),
    ],
)
def test_a_bad_secret_is_refused_with_what_is_wrong(secret: str, problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        settings(webhook_secret=secret)


def test_endpoints_need_a_secret_and_must_be_http_urls() -> None:
    with pytest.raises(ValidationError, match="MONEYPRINTER_WEBHOOK_SECRET must be set"):
        settings(webhook_urls="https://hooks.example.org/mp")
    with pytest.raises(ValidationError, match="is not a webhook endpoint"):
        settings(webhook_urls="file:///etc/passwd", webhook_secret=VECTOR_SECRET)
    configured = settings(
        webhook_urls="https://a.example.org/x, http://127.0.0.1:9/y,https://a.example.org/x",
        webhook_secret=f"{VECTOR_SECRET} {new_secret()}",
        webhook_retry_schedule_s="1, 2.5",
    )
    assert configured.webhook_urls == ["https://a.example.org/x", "http://127.0.0.1:9/y"]
    assert len(configured.webhook_keys) == 2
    assert configured.webhook_retry_schedule_s == [1.0, 2.5]
    # Each secret is scrubbed from whatever a job or an endpoint reports.
    assert set(configured.webhook_secret.split()) <= set(configured.secret_values)


def test_the_api_shows_an_endpoint_without_its_credentials() -> None:
    assert shown_endpoint("https://user:pw@hooks.example.org:8443/mp?token=abc") == (
        "https://hooks.example.org:8443/mp?…"
    )
    assert shown_endpoint("http://[::1]:9000/hooks") == "http://[::1]:9000/hooks"


def test_retry_after_is_read_in_seconds_or_as_a_date_and_capped() -> None:
    def answer(value: str) -> httpx.Response:
        return httpx.Response(503, headers={"retry-after": value})

    assert retry_after_s(answer("120")) == 120.0
    later = datetime.now(UTC) + timedelta(seconds=600)
    assert 590 <= (retry_after_s(answer(format_datetime(later, usegmt=True))) or 0) <= 600
    assert retry_after_s(answer("9999999")) == 86_400.0
    assert retry_after_s(answer("soon")) is None
    assert retry_after_s(httpx.Response(503)) is None


def test_the_cli_prints_a_secret_even_while_the_settings_lack_one(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MONEYPRINTER_WEBHOOK_URLS", "https://hooks.example.org/mp")
    assert main(["webhooks", "secret"]) == 0
    assert len(secret_key(capsys.readouterr().out.strip())) == 32
    assert main(["migrate"]) == 2  # a server command refuses the incomplete settings
    assert "MONEYPRINTER_WEBHOOK_SECRET must be set" in capsys.readouterr().err
