"""The generate payload's rules, without HTTP: defaults, coercion, ranges, colours, positions."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from app.domain import VideoSpec, normalise_color
from app.schemas import GenerateRequest


def test_every_optional_field_has_a_working_default() -> None:
    spec = VideoSpec.model_validate({"videoSubject": "tides"})

    assert spec.custom_prompt == ""
    assert spec.subtitles_position == "center,bottom"
    assert spec.paragraph_number == 1
    assert spec.color == "#FFFF00"
    assert spec.aspect == "9:16" and spec.quality == "standard"
    assert spec.script is None and spec.song is None


def test_original_web_page_strings_are_coerced() -> None:
    spec = VideoSpec.model_validate(
        {"videoSubject": " tides ", "paragraphNumber": "2", "useMusic": "false", "threads": "8"}
    )

    assert spec.video_subject == "tides"
    assert spec.paragraph_number == 2
    assert spec.use_music is False
    assert spec.threads == 8


@pytest.mark.parametrize(
    ("given", "expected"),
    [("#abc", "#AABBCC"), ("#1a2B3c", "#1A2B3C"), ("Yellow", "#FFFF00"), ("white", "#FFFFFF")],
)
def test_colours_are_normalised(given: str, expected: str) -> None:
    assert normalise_color(given) == expected


@pytest.mark.parametrize("bad", ["#12", "#GGGGGG", "rgb(1,2,3)", "notacolour", ""])
def test_bad_colours_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="colour"):
        normalise_color(bad)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("paragraphNumber", 0),
        ("paragraphNumber", 101),
        ("subtitlesPosition", "bottom,center"),
        ("subtitlesPosition", "center,bottom,left"),
        ("song", "a/b.mp3"),
        ("song", "song.wav"),
        ("targetSeconds", 5),
        ("voice", "bad voice;rm"),
        ("clipDuration", 0),
    ],
)
def test_out_of_range_values_are_refused(field: str, value: object) -> None:
    with pytest.raises(ValidationError) as error:
        VideoSpec.model_validate({"videoSubject": "tides", field: value})

    assert error.value.errors()[0]["loc"] == (field,)


def test_spec_leaves_the_queue_options_out() -> None:
    request = GenerateRequest.model_validate(
        {"videoSubject": "tides", "priority": "5", "maxAttempts": 2, "extra": 1}
    )

    dumped = request.spec().model_dump(by_alias=True)

    assert request.priority == 5 and request.max_attempts == 2
    assert "priority" not in dumped and "maxAttempts" not in dumped and "extra" not in dumped
    assert dumped["videoSubject"] == "tides"


@pytest.mark.parametrize(
    "request_body",
    [
        {"videoSubject": " tides ", "priority": 3},
        {
            "videoSubject": "Octopuses",
            "script": "",
            "color": "#abc",
            "subtitlesPosition": " Center , BOTTOM ",
            "song": "my-song.mp3",
            "useMusic": "true",
            "clipDuration": "4.5",
            "maxAttempts": 2,
            "projectId": 7,
        },
    ],
)
def test_payload_is_the_spec_as_stored(request_body: dict[str, object]) -> None:
    request = GenerateRequest.model_validate(request_body)

    assert request.payload() == request.spec().model_dump(mode="json", by_alias=True)
