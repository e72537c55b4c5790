"""What the providers and the worker scrub from text an upstream wrote: configured secrets, and
anything that looks like a credential (worker/providers/http.py `scrub`)."""

from __future__ import annotations

import pytest

from worker.providers.http import scrub

KEY = "lm-studio-7f3a9c2e51d84b06"


def test_a_configured_secret_is_replaced_wherever_it_appears() -> None:
    text = f'{{"error": "bad key {KEY}", "hint": "{KEY}!"}}'

    assert scrub(text, [KEY]) == '{"error": "bad key ***", "hint": "***!"}'


def test_a_secret_containing_another_is_replaced_whole() -> None:
    assert scrub("abc-123-xyz and abc", ["abc", "abc-123-xyz"]) == "*** and ***"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Authorization: Bearer eyJhbGciOi.J9x_y", "Authorization: Bearer ***"),
        ("header 'bearer tok123', next", "header 'bearer ***', next"),
        (
            "Incorrect API key provided: sk-proj-Ab12_cd34-EF56gh78.",
            "Incorrect API key provided: sk-***.",
        ),
        ("GET /api/?key=123abc&q=tide", "GET /api/?key=***&q=tide"),
        ("api_key=xyz token=abc", "api_key=*** token=***"),
    ],
)
def test_anything_that_looks_like_a_credential_is_replaced(text: str, expected: str) -> None:
    assert scrub(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "maximum context length is 4096 tokens",
        "the monkey=banana ratio",
        "task-runner failed after 3 attempts",
        "ask-me-anything",
    ],
)
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert scrub(text, ["", "unrelated-secret"]) == text
