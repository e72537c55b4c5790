"""MP3 recognition by content: frame headers in a row, after an optional ID3 tag."""

from __future__ import annotations

import io

from app.songs import is_mp3, mpeg_frame_length, safe_stem

# MPEG-1 Layer III, 128 kb/s, 44.1 kHz, no padding: 144 * 128000 / 44100 = 417 bytes a frame.
FRAME_HEADER = b"\xff\xfb\x90\x64"
FRAME = FRAME_HEADER + b"\x00" * 413


def id3_tag(body_size: int) -> bytes:
    size = bytes((body_size >> shift) & 0x7F for shift in (21, 14, 7, 0))
    return b"ID3\x04\x00\x00" + size + b"\x00" * body_size


def test_frame_length_of_a_common_header() -> None:
    assert mpeg_frame_length(FRAME_HEADER) == 417


def test_frames_in_a_row_are_mp3() -> None:
    assert is_mp3(io.BytesIO(FRAME * 4))


def test_id3_tag_is_skipped_even_when_large() -> None:
    assert is_mp3(io.BytesIO(id3_tag(200_000) + FRAME * 4))


def test_one_lucky_header_is_not_enough() -> None:
    assert not is_mp3(io.BytesIO(FRAME_HEADER + b"\x00" * 2000))


def test_other_content_is_not_mp3() -> None:
    assert not is_mp3(io.BytesIO(b"RIFF\x00\x00\x00\x00WAVEfmt " + b"\x00" * 4000))
    assert not is_mp3(io.BytesIO(b"ID3\x04\x00\x00\x00\x00\x00\x10" + b"<html>" * 100))
    assert not is_mp3(io.BytesIO(b""))


def test_stored_names_are_slugs() -> None:
    assert safe_stem("My Song (Live)!.mp3") == "my-song-live"
    assert safe_stem("....mp3") == "song"
    assert safe_stem("Ünïcode ♪.mp3") == "unicode"
