"""The music library: MP3 files checked by content, stored under generated names, all or nothing."""

from __future__ import annotations

import os
import re
import secrets
import shutil
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from app.domain import SONG_NAME_PATTERN
from app.errors import BadRequest, NotFound, PayloadTooLarge

STAGING_PREFIX = ".incoming-"
_MPEG1_LAYER3_KBPS = (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320)
_MPEG2_LAYER3_KBPS = (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160)
_SAMPLE_RATES_HZ = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}
_FRAMES_TO_CHECK = 3
_MAX_LEADING_JUNK_BYTES = 4096


@dataclass(frozen=True)
class Song:
    name: str
    size_bytes: int
    modified_at: datetime


@dataclass(frozen=True)
class IncomingSong:
    """An uploaded file as the request gave it."""

    filename: str
    file: BinaryIO
    size_bytes: int


def mpeg_frame_length(header: bytes) -> int | None:
    """Length in bytes of the MPEG audio Layer III frame starting with `header`, or None."""
    if len(header) < 4 or header[0] != 0xFF or header[1] & 0xE0 != 0xE0:
        return None
    version = (header[1] >> 3) & 0b11  # 3: MPEG-1, 2: MPEG-2, 0: MPEG-2.5, 1: reserved
    layer = (header[1] >> 1) & 0b11  # 1: Layer III
    bitrate_index = header[2] >> 4
    rate_index = (header[2] >> 2) & 0b11
    padding = (header[2] >> 1) & 1
    if version == 1 or layer != 1 or bitrate_index in (0, 15) or rate_index == 3:
        return None
    table = _MPEG1_LAYER3_KBPS if version == 3 else _MPEG2_LAYER3_KBPS
    bitrate_bps = table[bitrate_index] * 1000
    sample_rate_hz = _SAMPLE_RATES_HZ[version][rate_index]
    samples_per_frame = 1152 if version == 3 else 576
    return samples_per_frame // 8 * bitrate_bps // sample_rate_hz + padding


def is_mp3(file: BinaryIO) -> bool:
    """True when the file holds MPEG Layer III audio: an optional ID3v2 tag, then several frames
    in a row whose headers agree. Checking consecutive frames keeps out files that merely start
    with the right bytes."""
    file.seek(0)
    head = file.read(10)
    offset = 0
    if head[:3] == b"ID3" and len(head) == 10:
        tag_size = (head[6] << 21) | (head[7] << 14) | (head[8] << 7) | head[9]
        has_footer = bool(head[5] & 0x10)
        offset = 10 + tag_size + (10 if has_footer else 0)
    file.seek(offset)
    window = file.read(_MAX_LEADING_JUNK_BYTES)
    start = window.find(b"\xff")
    while start != -1:
        if _frames_follow(file, offset + start):
            return True
        start = window.find(b"\xff", start + 1)
    return False


def _frames_follow(file: BinaryIO, position: int) -> bool:
    for _ in range(_FRAMES_TO_CHECK):
        file.seek(position)
        length = mpeg_frame_length(file.read(4))
        if length is None or length < 4:
            return False
        position += length
    return True


def safe_stem(filename: str) -> str:
    """A lower-case slug of the file's name, for readable stored names."""
    stem = Path(filename).stem
    stem = unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode().lower()
    slug = re.sub(r"[^a-z0-9]+", "-", stem).strip("-")
    return slug[:60] or "song"


class SongLibrary:
    """The songs folder. Names are generated here; callers never choose a path."""

    def __init__(self, folder: Path, *, max_song_bytes: int) -> None:
        self.folder = folder
        self.max_song_bytes = max_song_bytes

    def songs(self) -> list[Song]:
        if not self.folder.is_dir():
            return []
        songs = []
        for path in sorted(self.folder.glob("*.mp3")):
            if SONG_NAME_PATTERN.fullmatch(path.name):
                stat = path.stat()
                modified = datetime.fromtimestamp(stat.st_mtime, UTC)
                songs.append(Song(path.name, stat.st_size, modified))
        return songs

    def exists(self, name: str) -> bool:
        return bool(SONG_NAME_PATTERN.fullmatch(name)) and (self.folder / name).is_file()

    def path_of(self, name: str) -> Path:
        """The file of an uploaded song; NotFound for any other name."""
        if not self.exists(name):
            raise NotFound(f"Song not found: {name}")
        return self.folder / name

    def delete(self, name: str) -> None:
        self.path_of(name).unlink()

    def add_all(self, incoming: list[IncomingSong]) -> list[str]:
        """Check every file, then store them all; when any is refused, store none.

        Each file is copied to a staging name in the songs folder first (same file system, so the
        final rename is atomic) and only renamed into place once all of them passed."""
        if not incoming:
            raise BadRequest("songs: no files were uploaded.")
        for song in incoming:
            self._check(song)
        self.folder.mkdir(parents=True, exist_ok=True)
        staged: list[tuple[Path, Path]] = []
        try:
            for song in incoming:
                token = secrets.token_hex(4)
                staging = self.folder / f"{STAGING_PREFIX}{token}.part"
                with staging.open("wb") as out:
                    song.file.seek(0)
                    shutil.copyfileobj(song.file, out)
                staged.append((staging, self.folder / f"{safe_stem(song.filename)}-{token}.mp3"))
        except OSError:
            for staging, _ in staged:
                staging.unlink(missing_ok=True)
            raise
        for staging, final in staged:
            os.replace(staging, final)
        return [final.name for _, final in staged]

    def _check(self, song: IncomingSong) -> None:
        name = song.filename
        if not name or "/" in name or "\\" in name or ".." in name or "\x00" in name:
            raise BadRequest(f"songs: file name {name!r} is not allowed.")
        if song.size_bytes > self.max_song_bytes:
            megabytes = self.max_song_bytes / (1024 * 1024)
            raise PayloadTooLarge(f"songs: {name} is larger than {megabytes:g} MB.")
        if song.size_bytes == 0 or not is_mp3(song.file):
            raise BadRequest(f"songs: {name} is not an MP3 file.")
