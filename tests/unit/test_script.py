"""The script stage without a network: cleaning, sentences, sizing, and the prompt an LLM gets."""

from __future__ import annotations

import pytest

from app.domain import VideoSpec
from worker.errors import PipelineError, ProviderError
from worker.pipeline.script import (
    NO_SCRIPT_MESSAGE,
    clean_script,
    count_words,
    paragraph_ends,
    split_sentences,
    trim_to_words,
    write_script,
)


class ScriptedLLM:
    """An LLM that answers from a list and keeps what it was asked (the LLM protocol)."""

    name = "Scripted"

    def __init__(self, *answers: str | Exception) -> None:
        self.answers = list(answers)
        self.calls: list[dict[str, object]] = []

    def chat(
        self,
        messages: list[dict[str, str]],
        *,
        model: str | None = None,
        json_mode: bool = False,
        temperature: float = 0.7,
    ) -> str:
        self.calls.append({"messages": [dict(m) for m in messages], "model": model})
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def sentences_of(words: int, *, per_sentence: int = 10) -> str:
    """`words` words in sentences of `per_sentence` words."""
    full, rest = divmod(words, per_sentence)
    sizes = [per_sentence] * full + ([rest] if rest else [])
    return " ".join(" ".join(["wave"] * size).capitalize() + "." for size in sizes)


def test_markdown_labels_directions_title_and_quotes_are_removed() -> None:
    answer = """Sure! Here's a script about tides:

**The Pull of the Moon**

[Upbeat music]
**Narrator:** Twice a day, the *sea* rises. (pause) It falls again (slowly).
*Camera pans over the beach*
- The moon pulls the water.
## Part two
```
Voiceover: "Tides are older than life."
```
Word count: 42
"""
    assert clean_script(answer) == (
        "Twice a day, the sea rises. It falls again (slowly).\n"
        "The moon pulls the water.\n"
        "Tides are older than life."
    )


def test_a_first_line_with_end_punctuation_is_narration_not_a_title() -> None:
    assert clean_script("The sea rises.\n\nIt falls.") == "The sea rises.\n\nIt falls."
    assert clean_script("Title: Tides\nThe sea rises.") == "The sea rises."


def test_sentences_do_not_end_at_abbreviations_initials_or_decimals() -> None:
    text = (
        "Dr. Smith moved to the U.S. with J. R. R. Tolkien's books, e.g. The Hobbit, at 3.5 km "
        'a day. Really?! Wait… Yes. "Go." He went. It is approx. ten.\nNew line'
    )

    assert split_sentences(text) == [
        "Dr. Smith moved to the U.S. with J. R. R. Tolkien's books, e.g. The Hobbit, at 3.5 km "
        "a day.",
        "Really?!",
        "Wait…",
        "Yes.",
        '"Go."',
        "He went.",
        "It is approx. ten.",
        "New line",
    ]


def test_cjk_sentences_split_without_spaces() -> None:
    assert split_sentences("月は海を引く。海は従う！") == ["月は海を引く。", "海は従う！"]


def test_the_requests_script_is_used_without_asking_the_llm() -> None:
    llm = ScriptedLLM()
    spec = VideoSpec(video_subject="tides", script="**Narrator:** The moon pulls.\n\n The sea.")

    assert write_script(spec, llm=llm) == "The moon pulls.\n\nThe sea."
    assert llm.calls == []


def test_without_script_or_llm_the_failure_says_what_to_configure() -> None:
    with pytest.raises(PipelineError) as caught:
        write_script(VideoSpec(video_subject="tides", script="[music]"), llm=None)

    assert caught.value.message == NO_SCRIPT_MESSAGE
    assert caught.value.retryable is False
    for hint in ("`script`", "OLLAMA_BASE_URL", "OLLAMA_MODEL", "MONEYPRINTER_OPENAI_BASE_URL"):
        assert hint in NO_SCRIPT_MESSAGE


def test_prompt_asks_for_paragraphs_language_and_the_users_instructions() -> None:
    llm = ScriptedLLM(sentences_of(40))
    spec = VideoSpec(
        video_subject="octopuses", paragraph_number=3, language="fr", custom_prompt="Be funny."
    )

    write_script(spec, llm=llm)

    prompt = llm.calls[0]["messages"][-1]["content"]  # type: ignore[index]
    assert "octopuses" in prompt and "3 paragraphs" in prompt and "French" in prompt
    assert "Be funny." in prompt
    assert llm.calls[0]["model"] is None  # the server's default model


def test_target_seconds_asks_for_words_instead_of_paragraphs() -> None:
    llm = ScriptedLLM(sentences_of(100))
    spec = VideoSpec(video_subject="tides", target_seconds=40, ai_model="qwen2.5:7b")

    script = write_script(spec, llm=llm)

    prompt = llm.calls[0]["messages"][-1]["content"]  # type: ignore[index]
    assert "about 100 words" in prompt and "paragraph of" not in prompt
    assert llm.calls[0]["model"] == "qwen2.5:7b"
    assert count_words(script) == 100


def test_a_long_answer_is_cut_at_a_sentence_within_fifteen_percent() -> None:
    llm = ScriptedLLM(sentences_of(180, per_sentence=7))

    script = write_script(VideoSpec(video_subject="tides", target_seconds=40), llm=llm)

    assert 85 <= count_words(script) <= 115
    assert script.endswith(".")
    assert len(llm.calls) == 1


def test_a_short_answer_is_asked_for_again_once() -> None:
    llm = ScriptedLLM(sentences_of(30), sentences_of(95))

    script = write_script(VideoSpec(video_subject="tides", target_seconds=40), llm=llm)

    assert count_words(script) == 95
    retry = llm.calls[1]["messages"]
    assert retry[-2]["role"] == "assistant"  # type: ignore[index]
    assert "only 30 words" in retry[-1]["content"] and "about 100" in retry[-1]["content"]  # type: ignore[index]


def test_a_script_still_too_short_fails_retryably() -> None:
    llm = ScriptedLLM(sentences_of(30), sentences_of(40))

    with pytest.raises(PipelineError) as caught:
        write_script(VideoSpec(video_subject="tides", target_seconds=40), llm=llm)

    assert caught.value.retryable is True
    assert "40 words" in caught.value.message and "about 100" in caught.value.message


def test_llm_errors_reach_the_job_with_what_to_do() -> None:
    error = ProviderError("Ollama", "could not connect", retryable=False, stage="script")

    with pytest.raises(ProviderError) as caught:
        write_script(VideoSpec(video_subject="tides"), llm=ScriptedLLM(error))

    assert caught.value.__cause__ is error
    assert caught.value.retryable is False and caught.value.provider == "Ollama"
    assert caught.value.message.startswith("Ollama: could not connect. To make a video, start")
    assert "the Script field of MoneyPrinter's own web page" in caught.value.message


def test_trim_without_sentence_ends_cuts_at_a_word() -> None:
    text = " ".join(["wave"] * 300)

    trimmed = trim_to_words(text, 100, highest=115)

    assert count_words(trimmed) == 100 and trimmed.endswith("wave.")


def test_trim_keeps_paragraphs() -> None:
    text = "One two three. Four five six.\nSeven eight nine. Ten eleven twelve."

    assert trim_to_words(text, 9, highest=10) == "One two three. Four five six.\nSeven eight nine."


def test_an_llm_script_past_the_cap_is_cut_at_a_sentence_end_with_a_warning() -> None:
    warnings: list[str] = []

    script = write_script(
        VideoSpec(video_subject="tides"),
        llm=ScriptedLLM(sentences_of(900)),
        max_words=500,
        warn=warnings.append,
    )

    assert count_words(script) == 500 and script.endswith(".")
    assert warnings == [
        "Scripted wrote 900 words; the script is cut to 500 at a sentence end (the cap is 500)."
    ]


def test_a_request_script_past_the_cap_is_refused() -> None:
    spec = VideoSpec(video_subject="tides", script=sentences_of(120))

    with pytest.raises(PipelineError) as caught:
        write_script(spec, llm=None, max_words=100)

    assert caught.value.retryable is False
    assert caught.value.message == (
        "script: 120 words; the most is 100 (about 1 minutes of narration, "
        "MONEYPRINTER_MAX_SCRIPT_WORDS)."
    )


def test_a_trimmed_script_keeps_its_paragraph_breaks() -> None:
    script = "One two three. Four five six.\n\nSeven eight nine. Ten eleven twelve.\nThirteen."
    trimmed = trim_to_words(script, 11, highest=12)
    assert trimmed == "One two three. Four five six.\n\nSeven eight nine. Ten eleven twelve."
    assert paragraph_ends(trimmed) == [False, True, False, False]
