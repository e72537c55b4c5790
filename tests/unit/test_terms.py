"""Search terms without a network: the LLM's answer read leniently, and keywords offline."""

from __future__ import annotations

import itertools

import pytest

from worker.errors import ProviderError
from worker.pipeline.script import split_sentences
from worker.pipeline.terms import parse_terms, search_terms, subject_noun

SCRIPT = (
    "Octopuses are among the smartest animals in the ocean. They open jars and escape from "
    "aquariums. Each arm has its own neurons. Scientists in Naples study their camouflage. "
    "Their skin changes colour in milliseconds."
)


def chunks(script: str, parts: int) -> list[str]:
    """`script` in `parts` runs of whole sentences (of words, when it has fewer sentences)."""
    pieces = split_sentences(script)
    if len(pieces) < parts:
        pieces = script.split() + [""] * max(0, parts - len(script.split()))
    cuts = [round(i * len(pieces) / parts) for i in range(parts + 1)]
    return [" ".join(pieces[a:b]) for a, b in itertools.pairwise(cuts)]


class OneAnswerLLM:
    """An LLM that gives one answer (or raises) and keeps the prompts it got."""

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


@pytest.mark.parametrize(
    "answer",
    [
        '["coral reef", "octopus arm", "deep sea"]',
        '```json\n{"terms": ["coral reef", "octopus arm", "deep sea"]}\n```',
        'Here you go: {"search_terms": ["coral reef", "octopus arm", "deep sea"]} Enjoy!',
        "['coral reef', 'octopus arm', 'deep sea']",
        "1. coral reef\n2) octopus arm\n3. deep sea",
        '[{"scene": 1, "term": "coral reef"}, {"scene": 2, "term": "octopus arm"}, "deep sea"]',
        '["Coral reef", "coral REEF", "octopus arm.", "", "deep sea"]',
    ],
    ids=["list", "fenced object", "trailing text", "single quotes", "numbered", "objects", "dupes"],
)
def test_terms_are_read_from_the_shapes_llms_answer_in(answer: str) -> None:
    assert [term.lower() for term in parse_terms(answer)] == [
        "coral reef",
        "octopus arm",
        "deep sea",
    ]


def test_an_answer_without_terms_gives_none() -> None:
    assert parse_terms("I cannot help with that.") == []
    assert parse_terms('{"terms": []}') == []


def test_llm_terms_are_trimmed_to_the_scenes_and_follow_the_narration() -> None:
    llm = OneAnswerLLM('{"terms": ["octopus", "glass jar", "camouflage", "extra", "more"]}')

    terms = search_terms(chunks(SCRIPT, 3), subject="Why octopuses are smart", llm=llm)

    assert terms == ["octopus", "glass jar", "camouflage"]
    scene_lines = [line for line in llm.prompts[0].splitlines() if line[:2] in ("1.", "2.", "3.")]
    assert scene_lines[0].startswith("1. Octopuses are among") and "milliseconds" in scene_lines[2]


def test_too_few_llm_terms_are_padded_with_keywords() -> None:
    terms = search_terms(chunks(SCRIPT, 4), subject="octopuses", llm=OneAnswerLLM('["coral reef"]'))

    assert len(terms) == 4 and terms[0] == "coral reef"
    assert len({term.lower() for term in terms}) == 4


@pytest.mark.parametrize(
    "answer",
    [ProviderError("Ollama", "is unavailable", retryable=True, stage="script"), "no idea"],
    ids=["LLM error", "unusable answer"],
)
def test_without_usable_llm_terms_keywords_are_used(answer: str | Exception) -> None:
    terms = search_terms(chunks(SCRIPT, 3), subject="octopuses", llm=OneAnswerLLM(answer))

    assert terms == search_terms(chunks(SCRIPT, 3), subject="octopuses", llm=None)


def test_offline_terms_follow_each_scene_with_the_subjects_noun() -> None:
    terms = search_terms(chunks(SCRIPT, 3), subject="Why octopuses are smart", llm=None)

    assert terms == ["octopuses", "octopuses neurons", "octopuses scientists"]


@pytest.mark.parametrize("scenes", [1, 2, 5, 12])
def test_offline_terms_are_exactly_one_per_scene_and_distinct(scenes: int) -> None:
    terms = search_terms(chunks(SCRIPT, scenes), subject="octopuses", llm=None)

    assert len(terms) == scenes
    assert len(set(terms)) == scenes
    assert all(term.strip() for term in terms)


def test_offline_terms_are_never_empty_even_for_stopwords() -> None:
    terms = search_terms(chunks("It is what it is.", 2), subject="the", llm=None)

    assert len(terms) == 2 and all(terms) and len(set(terms)) == 2


def test_subject_noun_skips_stopwords() -> None:
    assert subject_noun("Why octopuses are smart") == "octopuses"
    assert subject_noun("the history of the Roman Empire") == "history"
