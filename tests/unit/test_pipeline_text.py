"""Script, voice timing and subtitle maths of the pipeline, without ffmpeg or espeak-ng."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.domain import VideoSpec
from worker.pipeline import PipelineError
from worker.pipeline.script import NO_SCRIPT_MESSAGE, resolve_script, split_sentences
from worker.pipeline.subtitles import (
    SubtitleStyle,
    ass_color,
    ass_text,
    ass_time,
    scaled_font_size_px,
    split_cues,
    write_ass,
)
from worker.pipeline.voice import TimedText, espeak_voices, silent_track


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

    assert resolve_script(spec) == "The moon pulls.\nThe sea follows."


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


def test_silent_track_times_sentences_at_two_and_a_half_words_per_second() -> None:
    track = silent_track(["One two three four five.", "Hi."])

    assert track.path is None
    assert [(s.start_s, s.end_s) for s in track.sentences] == [(0.0, 2.0), (2.0, 3.0)]
    assert track.duration_s == 3.0


def test_espeak_voices_try_the_voice_then_the_language_then_its_base() -> None:
    assert espeak_voices(voice="en_us_001", language="pt_BR") == ["en_us_001", "pt-br", "pt"]
    assert espeak_voices(voice=None, language="en") == ["en"]


def test_long_sentences_become_even_cues_that_share_the_sentence_span() -> None:
    sentence = TimedText("one two three four five six seven", 1.0, 4.5)

    cues = split_cues([sentence], max_words=6)

    assert [cue.text for cue in cues] == ["one two three four", "five six seven"]
    assert cues[0].start_s == 1.0 and cues[-1].end_s == pytest.approx(4.5)
    assert cues[0].end_s == cues[1].start_s


def test_ass_file_uses_the_frame_as_canvas_and_the_requested_style(tmp_path: Path) -> None:
    path = tmp_path / "subtitles.ass"
    style = SubtitleStyle(
        width_px=540, height_px=960, font_name="DejaVu Sans", font_size_px=40,
        color="#FF8000", position="left,top",
    )  # fmt: skip

    write_ass(split_cues([TimedText("Hello {there}.", 0.0, 1.5)], max_words=6), path, style=style)

    text = path.read_text()
    assert "PlayResX: 540" in text and "PlayResY: 960" in text
    assert "Style: Default,DejaVu Sans,40,&H000080FF," in text
    assert ",7,38,38,77,1" in text  # top-left alignment, margins of 7 % and 8 %
    assert "Dialogue: 0,0:00:00.00,0:00:01.50,Default,,0,0,0,,Hello (there)." in text


def test_ass_helpers() -> None:
    assert ass_color("#112233") == "&H00332211"
    assert ass_time(3723.456) == "1:02:03.46"
    assert ass_text("a\\N{b}") == "a/N(b)"
    assert scaled_font_size_px(80, width_px=540, height_px=960) == 40
    assert scaled_font_size_px(80, width_px=1920, height_px=1080) == 80
