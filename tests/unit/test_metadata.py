"""Metadata without a network: the LLM's JSON read leniently, the offline fallback, the file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from worker.errors import ProviderError
from worker.pipeline.metadata import (
    MAX_TITLE_CHARS,
    Metadata,
    describe,
    write_metadata,
)

SCRIPT = (
    "Octopuses are among the smartest animals in the ocean. They open jars and escape from "
    "aquariums. Each arm has its own neurons. Scientists in Naples study their camouflage."
)


class OneAnswerLLM:
    name = "Scripted"

    def __init__(self, answer: str | Exception) -> None:
        self.answer = answer
        self.prompts: list[str] = []

    def chat(
        self,
        messages: list[dict[str, str]],
        *,
        model: str | None = None,
        json_mode: bool = False,
        temperature: float = 0.7,
    ) -> str:
        self.prompts.append(messages[-1]["content"])
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


def test_llm_metadata_is_read_from_fenced_json_and_tidied() -> None:
    answer = (
        "Here it is:\n```json\n"
        + json.dumps(
            {
                "title": "#Octopuses " + "really " * 30 + "are smart",
                "description": "Eight arms, nine brains.",
                "tags": ["#octopus", "ocean", "Ocean", "smart animals", "marine life", "science"],
            }
        )
        + "\n```"
    )
    llm = OneAnswerLLM(answer)

    metadata = describe(SCRIPT, subject="octopuses", language="de", llm=llm)

    assert metadata.title.startswith("Octopuses really") and metadata.title.endswith("…")
    assert len(metadata.title) <= MAX_TITLE_CHARS
    assert metadata.description == "Eight arms, nine brains."
    assert metadata.tags == ["octopus", "ocean", "smart animals", "marine life", "science"]
    assert "German" in llm.prompts[0] and SCRIPT in llm.prompts[0]


def test_few_llm_tags_are_completed_and_a_string_of_hashtags_is_split() -> None:
    llm = OneAnswerLLM('{"title": "Smart octopuses", "tags": "#octopus #ocean"}')

    metadata = describe(SCRIPT, subject="octopuses", language="en", llm=llm)

    assert metadata.title == "Smart octopuses"
    assert metadata.description.startswith("Octopuses are among")  # none given: from the script
    assert metadata.tags[:2] == ["octopus", "ocean"]
    assert 5 <= len(metadata.tags) <= 15


@pytest.mark.parametrize(
    "answer",
    [ProviderError("Ollama", "is unavailable", retryable=True, stage="script"), "no JSON here"],
    ids=["LLM error", "unusable answer"],
)
def test_without_usable_llm_metadata_it_is_derived_offline(answer: str | Exception) -> None:
    metadata = describe(
        SCRIPT, subject="why octopuses are smart", language="en", llm=OneAnswerLLM(answer)
    )

    assert metadata == describe(SCRIPT, subject="why octopuses are smart", language="en", llm=None)
    assert metadata.title == "Why octopuses are smart"
    assert metadata.description.startswith("Octopuses are among the smartest animals")
    assert 5 <= len(metadata.tags) <= 15
    assert metadata.tags[0] == "why octopuses are smart" and "octopuses" in metadata.tags
    assert not any("#" in tag for tag in metadata.tags)


def test_offline_metadata_of_a_tiny_script_still_has_five_tags() -> None:
    metadata = describe("Hi.", subject="x", language="en", llm=None)

    assert metadata.title == "X" and metadata.description == "Hi."
    assert len(metadata.tags) >= 5


def test_metadata_file_is_utf8_json_with_the_extra_fields(tmp_path: Path) -> None:
    path = tmp_path / "metadata.json"
    metadata = Metadata(title="Pulpos 🐙", description="Ocho brazos.", tags=["pulpo", "océano"])

    write_metadata(path, metadata, extra={"jobId": "abc", "durationS": 12.5})

    assert json.loads(path.read_text(encoding="utf-8")) == {
        "title": "Pulpos 🐙",
        "description": "Ocho brazos.",
        "tags": ["pulpo", "océano"],
        "jobId": "abc",
        "durationS": 12.5,
    }
    assert "🐙" in path.read_text(encoding="utf-8")
    assert list(tmp_path.iterdir()) == [path]  # no .part left behind
