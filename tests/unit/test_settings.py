"""Settings: the original's variable names, URL mapping, lists, and the production guard."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from app.settings import Settings, async_database_url


def fresh(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DATABASE_URL", "OLLAMA_BASE_URL", "OLLAMA_MODEL", "PEXELS_API_KEY"):
        monkeypatch.delenv(name, raising=False)


def test_empty_database_url_is_the_sqlite_file_in_the_data_dir(tmp_path: Path) -> None:
    settings = fresh(data_dir=tmp_path)

    expected = f"sqlite+aiosqlite:///{(tmp_path / 'moneyprinter.db').resolve()}"
    assert settings.resolved_database_url == expected


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgresql://u:p@h:5432/db", "postgresql+asyncpg://u:p@h:5432/db"),
        ("postgres://u@h/db", "postgresql+asyncpg://u@h/db"),
        ("postgresql+psycopg2://u@h/db", "postgresql+asyncpg://u@h/db"),
        ("postgresql+asyncpg://u@h/db", "postgresql+asyncpg://u@h/db"),
        ("sqlite:////var/lib/mp.db", "sqlite+aiosqlite:////var/lib/mp.db"),
    ],
)
def test_database_urls_get_async_drivers(given: str, expected: str) -> None:
    assert async_database_url(given, data_dir=Path("data")) == expected


def test_original_variable_names_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://u@h/db")
    monkeypatch.setenv("OLLAMA_BASE_URL", "http://gpu-box:11434")
    monkeypatch.setenv("OLLAMA_MODEL", "qwen2.5:7b")
    monkeypatch.setenv("PEXELS_API_KEY", "px-key")
    monkeypatch.setenv("MONEYPRINTER_PORT", "9090")

    settings = fresh()

    assert settings.resolved_database_url == "postgresql+asyncpg://u@h/db"
    assert settings.ollama_base_url == "http://gpu-box:11434"
    assert settings.ollama_model == "qwen2.5:7b"
    assert settings.pexels_api_key == "px-key"
    assert settings.port == 9090


def test_defaults_run_offline_on_port_8080() -> None:
    settings = fresh()

    assert settings.port == 8080
    assert settings.api_key == "" and settings.cors_origins == []
    assert settings.database_url == ""


def test_cors_origins_are_comma_separated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MONEYPRINTER_CORS_ORIGINS", "http://a.example, http://b.example,")

    assert fresh().cors_origins == ["http://a.example", "http://b.example"]


def test_production_refuses_to_run_without_an_api_key() -> None:
    with pytest.raises(ValidationError, match="MONEYPRINTER_API_KEY"):
        fresh(env="production")

    assert fresh(env="production", api_key="k").api_key == "k"


def test_dotenv_file_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("OLLAMA_MODEL=from-dotenv\nMONEYPRINTER_MAX_ATTEMPTS=5\n")

    settings = Settings(_env_file=env_file)  # type: ignore[call-arg]

    assert settings.ollama_model == "from-dotenv" and settings.max_attempts == 5
