"""Which settings are secrets (`Settings.secret_values`): what the worker scrubs from whatever a
job reports."""

from __future__ import annotations

from app.settings import Settings


def load(**values: str) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def test_every_configured_key_and_the_database_password_are_secrets() -> None:
    settings = load(
        api_key="api-1",
        pexels_api_key="pexels-2",
        pixabay_api_key="pixabay-3",
        openai_api_key="openai-4",
        speech_api_key="speech-5",
        database_url="postgresql://mp:p%40ss-6@db.internal:5432/mp",
    )

    assert set(settings.secret_values) == {
        "api-1", "pexels-2", "pixabay-3", "openai-4", "speech-5", "p%40ss-6", "p@ss-6",
    }  # fmt: skip


def test_settings_left_empty_are_not_secrets() -> None:
    assert load(database_url="sqlite:///data/moneyprinter.db").secret_values == ()


def test_every_api_key_setting_is_a_secret() -> None:
    # A new `*_api_key` setting is scrubbed without anyone remembering to list it.
    names = [name for name in Settings.model_fields if name.endswith("api_key")]
    settings = load(**{name: f"value-of-{name}" for name in names})

    assert len(names) >= 5
    assert set(settings.secret_values) == {f"value-of-{name}" for name in names}
