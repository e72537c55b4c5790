"""The edge's settings from the environment: allowed hosts and CORS origins are read as lists,
written the way a Host header or an Origin is, and a value that could never match is refused with
a message naming it; the HTTP server's limits have working defaults."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from app.settings import Settings

EDGE_VARIABLES = (
    "MONEYPRINTER_HOST",
    "MONEYPRINTER_ALLOWED_HOSTS",
    "MONEYPRINTER_CORS_ORIGINS",
    "MONEYPRINTER_HTTP_HEADER_TIMEOUT_S",
    "MONEYPRINTER_HTTP_KEEP_ALIVE_S",
    "MONEYPRINTER_HTTP_MAX_CONCURRENCY",
    "MONEYPRINTER_MAX_EVENT_STREAMS",
)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in EDGE_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no .env


def load() -> Settings:
    return Settings(_env_file=None)  # type: ignore[call-arg]


def test_allowed_hosts_are_split_and_spelled_as_the_host_check_compares_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MONEYPRINTER_ALLOWED_HOSTS", " MP.Example.org, [FD00::1] ,10.0.0.7,,api ")

    assert load().allowed_hosts == ["mp.example.org", "fd00::1", "10.0.0.7", "api"]


@pytest.mark.parametrize(
    "entry", ["http://mp.example.org", "mp.example.org:8080", "mp.example.org/api", "a b"]
)
def test_an_allowed_host_with_scheme_port_or_path_is_refused(
    monkeypatch: pytest.MonkeyPatch, entry: str
) -> None:
    monkeypatch.setenv("MONEYPRINTER_ALLOWED_HOSTS", f"localhost,{entry}")

    with pytest.raises(ValidationError, match=f"'{entry}' is not a host name or address"):
        load()


def test_cors_origins_may_be_star(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MONEYPRINTER_CORS_ORIGINS", "*")

    assert load().cors_origins == ["*"]


@pytest.mark.parametrize("origin", ["http://localhost:3000/", "localhost:3000", "http://a/b"])
def test_a_cors_origin_with_a_path_or_no_scheme_is_refused(
    monkeypatch: pytest.MonkeyPatch, origin: str
) -> None:
    monkeypatch.setenv("MONEYPRINTER_CORS_ORIGINS", origin)

    with pytest.raises(ValidationError, match=f"'{origin}' is not an origin"):
        load()


def test_the_http_limits_default_to_bounded_values() -> None:
    settings = load()

    assert settings.allowed_hosts == []
    assert settings.http_header_timeout_s == 10.0
    assert settings.http_keep_alive_s == 5
    assert settings.http_max_concurrency == 2000
    assert settings.max_event_streams == 1000


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("MONEYPRINTER_HTTP_HEADER_TIMEOUT_S", "0"),
        ("MONEYPRINTER_HTTP_KEEP_ALIVE_S", "0"),
        ("MONEYPRINTER_HTTP_MAX_CONCURRENCY", "0"),
        ("MONEYPRINTER_MAX_EVENT_STREAMS", "0"),
    ],
)
def test_http_limits_must_be_positive(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)

    with pytest.raises(ValidationError, match=name.removeprefix("MONEYPRINTER_").lower()):
        load()
