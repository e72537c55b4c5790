"""The script stage: resolving, normalising and splitting the text (voice and subtitles are tested
in test_voice.py and test_subtitles.py)."""

from __future__ import annotations

import pytest

from app.domain import VideoSpec
from worker.errors import PipelineError
from worker.pipeline.script import (
    NO_SCRIPT_MESSAGE,
    paragraph_ends,
    resolve_script,
    split_sentences,
)
from worker.pipeline.voice import ELLIPSIS_PAUSE_S, PARAGRAPH_PAUSE_S, PAUSE_S, pause_after


@pytest.mark.parametrize("script", [None, "", "   \n  ", "... !?"])
def test_no_script_is_a_permanent_failure_that_says_what_to_do(script: str | None) -> None:
    spec = VideoSpec(video_subject="tides", script=script)

    with pytest.raises(PipelineError) as caught:
        resolve_script(spec)

    assert caught.value.message == NO_SCRIPT_MESSAGE
    assert caught.value.retryable is False
    assert caught.value.stage == "script"
    assert "`script`" in NO_SCRIPT_MESSAGE and "OLLAMA_BASE_URL" in NO_SCRIPT_MESSAGE


def test_script_whitespace_is_normalised_per_line() -> None:
    spec = VideoSpec(video_subject="tides", script="  The   moon pulls.\n\n\n The sea  follows. ")

    assert resolve_script(spec) == "The moon pulls.\n\nThe sea follows."  # one paragraph break


def test_an_ellipsis_ends_a_sentence_and_paragraphs_are_known() -> None:
    text = "The tide comes in . . . and goes out.\n\nA new day... Nobody.\n\n\nThe end."
    assert split_sentences(text) == [
        "The tide comes in…", "and goes out.", "A new day…", "Nobody.", "The end."
    ]  # fmt: skip
    assert paragraph_ends(text) == [False, True, False, True, False]
    assert pause_after("The tide comes in…", False) == ELLIPSIS_PAUSE_S
    assert pause_after("and goes out.", True) == PARAGRAPH_PAUSE_S
    assert pause_after("Nobody.", False) == PAUSE_S


def test_sentences_split_at_end_punctuation_and_line_breaks() -> None:
    text = 'He said "hi." Then he left! Why? No stop here\nA new line. Pi is 3.14 exactly.'

    assert split_sentences(text) == [
        'He said "hi."',
        "Then he left!",
        "Why?",
        "No stop here",
        "A new line.",
        "Pi is 3.14 exactly.",
    ]
