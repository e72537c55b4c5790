"""Settings from the environment: database URL mapping, CORS origins, the production guard, the
original MoneyPrinter's variable names, and that every setting is documented."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import AliasChoices, ValidationError

from app.client.config import ClientSettings
from app.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def env_name(field: str) -> str:
    """The variable a field is read from: its first alias (the original names), else prefixed."""
    alias = Settings.model_fields[field].validation_alias
    if isinstance(alias, AliasChoices):
        return str(alias.choices[0])
    return f"MONEYPRINTER_{field.upper()}"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No setting from the machine running the tests, and no `.env` in the working directory."""
    for field in Settings.model_fields:
        monkeypatch.delenv(env_name(field), raising=False)
        monkeypatch.delenv(f"MONEYPRINTER_{field.upper()}", raising=False)
    monkeypatch.chdir(tmp_path)


def load() -> Settings:
    return Settings(_env_file=None)  # type: ignore[call-arg]


def test_no_database_url_means_the_sqlite_file_in_the_data_folder(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DATABASE_URL", "")
    monkeypatch.setenv("MONEYPRINTER_DATA_DIR", str(tmp_path / "store"))

    url = load().resolved_database_url

    assert url == f"sqlite+aiosqlite:///{tmp_path / 'store' / 'moneyprinter.db'}"


def test_the_default_data_folder_is_data_in_the_working_directory(tmp_path: Path) -> None:
    settings = load()

    assert settings.data_dir == Path("data")
    expected = (tmp_path / "data" / "moneyprinter.db").resolve()
    assert settings.resolved_database_url == f"sqlite+aiosqlite:///{expected}"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgres://u:p@db:5432/mp", "postgresql+asyncpg://u:p@db:5432/mp"),
        ("postgresql://u:p@db:5432/mp", "postgresql+asyncpg://u:p@db:5432/mp"),
        ("postgresql+psycopg2://u@db/mp", "postgresql+asyncpg://u@db/mp"),
        ("postgresql+asyncpg://u@db/mp", "postgresql+asyncpg://u@db/mp"),
        ("sqlite:////srv/mp.db", "sqlite+aiosqlite:////srv/mp.db"),
    ],
)
def test_database_urls_are_mapped_to_async_drivers(
    monkeypatch: pytest.MonkeyPatch, given: str, expected: str
) -> None:
    monkeypatch.setenv("DATABASE_URL", given)

    assert load().resolved_database_url == expected


def test_cors_origins_are_split_on_commas(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MONEYPRINTER_CORS_ORIGINS", " http://localhost:5173, https://a.example ,,")

    assert load().cors_origins == ["http://localhost:5173", "https://a.example"]


def test_no_cors_origins_by_default() -> None:
    assert load().cors_origins == []


def test_production_without_an_api_key_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MONEYPRINTER_ENV", "production")

    with pytest.raises(ValidationError, match="MONEYPRINTER_API_KEY must be set"):
        load()


def test_production_with_an_api_key_starts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MONEYPRINTER_ENV", "production")
    monkeypatch.setenv("MONEYPRINTER_API_KEY", "s3cret")

    assert load().api_key == "s3cret"


def test_development_needs_no_api_key() -> None:
    settings = load()

    assert settings.env == "development"
    assert settings.api_key == ""


def test_the_original_variable_names_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://mp@db/mp")
    monkeypatch.setenv("OLLAMA_BASE_URL", "http://gpu-box:11434")
    monkeypatch.setenv("OLLAMA_MODEL", "qwen2.5:7b")
    monkeypatch.setenv("PEXELS_API_KEY", "pexels-key")

    settings = load()

    assert settings.database_url == "postgresql://mp@db/mp"
    assert settings.ollama_base_url == "http://gpu-box:11434"
    assert settings.ollama_model == "qwen2.5:7b"
    assert settings.pexels_api_key == "pexels-key"


def test_new_settings_are_read_with_the_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MONEYPRINTER_PORT", "9000")
    monkeypatch.setenv("MONEYPRINTER_WORKER_CONCURRENCY", "4")
    monkeypatch.setenv("MONEYPRINTER_LEASE_S", "45")

    settings = load()

    assert (settings.port, settings.worker_concurrency, settings.lease_s) == (9000, 4, 45.0)


def test_the_environment_wins_over_the_env_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("OLLAMA_MODEL=from-file\nMONEYPRINTER_PORT=9001\n", encoding="utf-8")
    monkeypatch.setenv("MONEYPRINTER_PORT", "9002")

    settings = Settings(_env_file=env_file)  # type: ignore[call-arg]

    assert settings.ollama_model == "from-file"
    assert settings.port == 9002


@pytest.mark.parametrize("document", ["README.md", ".env.example"])
def test_every_setting_is_documented(document: str) -> None:
    text = (ROOT / document).read_text(encoding="utf-8")
    names = {env_name(field) for field in Settings.model_fields}
    names |= {f"MONEYPRINTER_{field.upper()}" for field in ClientSettings.model_fields}

    undocumented = sorted(name for name in names if not re.search(rf"\b{name}\b", text))

    assert not undocumented, f"{document} does not mention {undocumented}"
