"""MP3 recognition by content: frame headers in a row from byte 0 or right after an ID3 tag;
the base name of an uploaded file; stored names."""

from __future__ import annotations

import io

from app.songs import base_name, is_mp3, mpeg_frame_length, safe_stem

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


def test_anything_before_the_frames_is_refused() -> None:
    # ffmpeg, left to guess, reads such a file as whatever its start says (an HLS playlist).
    playlist = b"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:1,\n/etc/secret.mp3\n"
    assert not is_mp3(io.BytesIO(playlist + FRAME * 4))
    assert not is_mp3(io.BytesIO(b"\x00" + FRAME * 4))
    assert not is_mp3(io.BytesIO(id3_tag(16) + b"junk" + FRAME * 4))


def test_an_id3_size_must_be_four_seven_bit_bytes() -> None:
    tag = b"ID3\x04\x00\x00\x00\x00\x00\x80"  # 0x80 is no syncsafe byte
    assert not is_mp3(io.BytesIO(tag + b"\x00" * 128 + FRAME * 4))


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


def test_an_uploaded_name_keeps_only_its_base_name() -> None:
    assert base_name("songs/a.mp3") == "a.mp3"  # a folder upload from Chromium
    assert base_name("../../etc/passwd.mp3") == "passwd.mp3"
    assert base_name("C:\\Music\\b.mp3") == "b.mp3"
    assert base_name("songs/") == ""
