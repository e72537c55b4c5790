"""Cues from voice timings, their layout inside the frame, and the ASS and SRT files."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest
from PIL import ImageFont

from worker.pipeline.subtitles import (
    ALIGNMENT,
    FONT_FILE,
    MAX_CUE_WORDS,
    Cue,
    SubtitleStyle,
    ass_color,
    ass_text,
    ass_time,
    layout_lines,
    scaled_font_size_px,
    split_cues,
    write_ass,
    write_srt,
)
from worker.pipeline.voice import TimedText, TimedWord, apportion_words

FRAMES_PX = [(1080, 1920), (1920, 1080), (1080, 1080), (540, 960), (960, 540), (540, 540)]
ASPECTS = {(9, 16): "9:16", (16, 9): "16:9", (1, 1): "1:1"}
POSITIONS = [f"{h},{v}" for h, v in ALIGNMENT]
LONG_TEXT = (
    "Pneumonoultramicroscopicsilicovolcanoconiosis is a word, and octopuses have nine brains "
    "while each of their arms tastes whatever it touches."
)


def sentence(text: str, start_s: float, end_s: float) -> TimedText:
    return TimedText(text, start_s, end_s, apportion_words(text, start_s, end_s))


def style_for(width_px: int, height_px: int, position: str, **changes: object) -> SubtitleStyle:
    values: dict[str, object] = {
        "width_px": width_px,
        "height_px": height_px,
        "font_name": "DejaVu Sans",
        "font_size_px": scaled_font_size_px(80, width_px=width_px, height_px=height_px),
        "color": "#FFFF00",
        "position": position,
        **changes,
    }
    return SubtitleStyle(**values)  # type: ignore[arg-type]


def aspect(width_px: int, height_px: int) -> str:
    ratio = (width_px // 60, height_px // 60)
    divisor = max(d for d in range(1, 33) if ratio[0] % d == 0 and ratio[1] % d == 0)
    return ASPECTS[(ratio[0] // divisor, ratio[1] // divisor)]


def dialogue_lines(ass: str) -> list[tuple[str, str, list[str]]]:
    """(start, end, lines without override tags) of every Dialogue event."""
    events = []
    for line in ass.splitlines():
        if line.startswith("Dialogue: "):
            fields = line.removeprefix("Dialogue: ").split(",", 9)
            text = re.sub(r"\{[^}]*\}", "", fields[9])
            events.append((fields[1], fields[2], text.split("\\N")))
    return events


def test_long_sentences_become_even_cues_with_their_words() -> None:
    cues = split_cues([sentence("one two three four five six seven", 1.0, 4.5)], max_words=6)

    assert [cue.text for cue in cues] == ["one two three four", "five six seven"]
    assert [word.text for word in cues[1].words] == ["five", "six", "seven"]
    assert cues[0].start_s == 1.0 and cues[-1].end_s == pytest.approx(4.5)
    assert cues[0].end_s == cues[1].start_s


def test_a_chunk_that_would_take_three_lines_is_split_further() -> None:
    style = style_for(540, 960, "center,bottom", font_size_px=90)
    words = "extraordinary circumstances demand remarkable determination"

    cues = split_cues([sentence(words, 0.0, 3.0)], max_words=6, style=style)

    assert len(cues) > 1
    assert all(len(layout_lines(cue.text.split(), style=style)) <= 2 for cue in cues)


def test_a_word_wider_than_the_frame_is_a_cue_of_its_own_and_the_rest_stay_grouped() -> None:
    style = style_for(540, 960, "right,center")

    cues = split_cues([sentence(LONG_TEXT, 0.0, 9.0)], max_words=6, style=style)

    assert cues[0].text == "Pneumonoultramicroscopicsilicovolcanoconiosis"
    assert all(len(cue.words) > 1 for cue in cues[1:])


def test_cues_are_ordered_bridged_over_short_pauses_and_inside_the_duration() -> None:
    sentences = [
        sentence("First part here.", 0.2, 1.4),
        sentence("Second after a short pause.", 1.9, 3.2),
        sentence("Third after a long pause.", 5.0, 6.5),
    ]

    cues = split_cues(sentences, max_words=3, duration_s=6.6)

    assert cues[0].start_s == 0.2
    for earlier, later in itertools.pairwise(cues):
        assert earlier.start_s < earlier.end_s <= later.start_s
    assert cues[0].end_s == cues[1].start_s == 1.9  # 0.5 s pause: the text stays up
    long_pause_end_s = next(cue.end_s for cue in cues if cue.text == "short pause.")
    assert long_pause_end_s == pytest.approx(3.2 + 0.4)  # lingers, then the screen clears
    assert cues[-1].end_s <= 6.6


@pytest.mark.parametrize(("width_px", "height_px"), FRAMES_PX)
@pytest.mark.parametrize("position", POSITIONS)
def test_every_line_fits_inside_the_frame(
    tmp_path: Path, width_px: int, height_px: int, position: str
) -> None:
    style = style_for(width_px, height_px, position)
    max_words = MAX_CUE_WORDS[aspect(width_px, height_px)]
    cues = split_cues([sentence(LONG_TEXT, 0.0, 9.0)], max_words=max_words, style=style)
    path = tmp_path / "subtitles.ass"

    write_ass(cues, path, style=style)

    font = ImageFont.truetype(str(FONT_FILE), round(style.font_size_px / 1.164))
    usable_px = width_px - 2 * style.margin_x_px
    events = dialogue_lines(path.read_text())
    assert len(events) == len(cues)
    for _, _, lines in events:
        for line in lines:
            assert font.getlength(line) + 2 * style.outline_px <= usable_px, line
    assert any(line.endswith("-") for _, _, lines in events for line in lines) == (
        font.getlength("Pneumonoultramicroscopicsilicovolcanoconiosis") > usable_px
    )
    assert f",{ALIGNMENT[tuple(position.split(','))]},{style.margin_x_px}," in path.read_text()  # type: ignore[index]
    assert min(style.margin_x_px, style.margin_y_px) >= 3 * style.outline_px


def test_ass_file_uses_the_frame_as_canvas_and_the_requested_style(tmp_path: Path) -> None:
    path = tmp_path / "subtitles.ass"
    style = style_for(540, 960, "left,top", font_size_px=40, color="#FF8000")

    write_ass(split_cues([sentence("Hello {there}.", 0.0, 1.5)], max_words=6), path, style=style)

    text = path.read_text()
    assert "PlayResX: 540" in text and "PlayResY: 960" in text
    assert "Style: Default,DejaVu Sans,40,&H000080FF," in text
    assert ",-1,0,0,0,100,100,0,0,1,3,0,7,38,38,77,1" in text  # bold, outline 3, top-left
    assert "Dialogue: 0,0:00:00.00,0:00:01.50,Default,,0,0,0,,Hello (there)." in text


def test_word_highlight_colours_only_the_spoken_word(tmp_path: Path) -> None:
    path = tmp_path / "subtitles.ass"
    style = style_for(1080, 1920, "center,center", color="#00FF00", word_highlight=True)
    cues = split_cues([sentence("Octopuses have nine brains.", 1.0, 3.0)], max_words=6)

    write_ass(cues, path, style=style)

    text = path.read_text()
    assert "Style: Default,DejaVu Sans,80,&H00FFFFFF," in text  # the other words are white
    events = [line for line in text.splitlines() if line.startswith("Dialogue: ")]
    assert len(events) == 4
    words = cues[0].words
    for index, event in enumerate(events):
        highlighted = re.findall(r"\{\\1c&H00FF00&\}([^{]+)\{\\r\}", event)
        assert highlighted == [words[index].text]
    times = [event.split(",")[1:3] for event in events]
    assert times[0][0] == "0:00:01.00" and times[-1][1] == "0:00:03.00"
    assert all(times[i][1] == times[i + 1][0] for i in range(len(times) - 1))


def test_a_white_subtitle_highlights_in_yellow(tmp_path: Path) -> None:
    path = tmp_path / "subtitles.ass"
    style = style_for(1080, 1920, "center,bottom", color="#FFFFFF", word_highlight=True)

    write_ass(split_cues([sentence("Hi there.", 0.0, 1.0)], max_words=6), path, style=style)

    assert "{\\1c&H00FFFF&}Hi{\\r} there." in path.read_text()


def test_srt_numbers_cues_with_millisecond_times_and_two_lines_at_most(tmp_path: Path) -> None:
    path = tmp_path / "subtitles.srt"
    long_words = "counterrevolutionaries misunderstanding internationalisation"
    cues = [
        Cue(
            0.0, 1.25, "Hello there.", [TimedWord("Hello", 0.0, 0.5), TimedWord("there.", 0.6, 1.2)]
        ),
        Cue(3661.5, 3663.0, long_words),
    ]

    write_srt(cues, path)

    assert path.read_text() == (
        "1\n00:00:00,000 --> 00:00:01,250\nHello there.\n\n"
        "2\n01:01:01,500 --> 01:01:03,000\n"
        "counterrevolutionaries\nmisunderstanding internationalisation\n"
    )


def test_ass_helpers() -> None:
    assert ass_color("#112233") == "&H00332211"
    assert ass_time(3723.456) == "1:02:03.46"
    assert ass_text("a\\N{b}") == "a/N(b)"
    assert scaled_font_size_px(80, width_px=540, height_px=960) == 40
    assert scaled_font_size_px(80, width_px=1920, height_px=1080) == 80
