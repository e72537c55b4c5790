"""The music library: uploads checked by content, re-muxed to clean MP3s and stored under generated
names, file by file, in the data folder's `songs/` or under `songs/` in the bucket; only regular
files inside the songs folder, or objects directly under the prefix, are ever listed, served or
mixed."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import tempfile
import unicodedata
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from app.domain import SONG_NAME_PATTERN
from app.errors import BadRequest, NotFound
from app.storage import ObjectStore

STAGING_PREFIX = ".incoming-"
SONGS_PREFIX = "songs/"
DEFAULT_MAX_SONG_BYTES = 20 * 1024 * 1024
_MPEG1_LAYER3_KBPS = (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320)
_MPEG2_LAYER3_KBPS = (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160)
_SAMPLE_RATES_HZ = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}
_FRAMES_TO_CHECK = 3
REMUX_TIMEOUT_S = 60.0
SKIPPED_IN_MESSAGE = 5  # files named in an answer's message; `skipped` lists them all
NOT_MP3 = "not an MP3 file (an MP3 starts with an ID3 tag or an MPEG audio frame)"


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


@dataclass(frozen=True)
class SkippedFile:
    """A file of an upload that was not stored: its base name and why."""

    name: str
    reason: str


@dataclass(frozen=True)
class UploadOutcome:
    stored: list[str]
    skipped: list[SkippedFile]

    def message(self) -> str:
        """The answer's sentence: the original's wording, then what was skipped and why."""
        if not self.stored:
            return f"No MP3 files found. {describe_skipped(self.skipped)}"
        uploaded = f"Uploaded {len(self.stored)} song(s)."
        return f"{uploaded} Skipped {describe_skipped(self.skipped)}" if self.skipped else uploaded


class _Refused(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def describe_skipped(skipped: list[SkippedFile]) -> str:
    shown = skipped[:SKIPPED_IN_MESSAGE]
    named = "; ".join(f"{file.name or '(no name)'}: {file.reason}" for file in shown)
    more = len(skipped) - SKIPPED_IN_MESSAGE
    return f"{named}; and {more} more." if more > 0 else f"{named}."


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
    """True when the file is MPEG Layer III audio from its first byte: several frames in a row
    whose headers agree, at byte 0 or directly after one ID3v2 tag. Nothing may come before them:
    ffmpeg, left to guess, reads a file that starts with something else (an HLS playlist naming
    local files, say) as that other format."""
    file.seek(0)
    head = file.read(10)
    offset = 0
    if head[:3] == b"ID3":
        if len(head) < 10 or any(byte & 0x80 for byte in head[6:10]):
            return False  # an ID3v2 size is four 7-bit bytes
        tag_size = (head[6] << 21) | (head[7] << 14) | (head[8] << 7) | head[9]
        has_footer = bool(head[5] & 0x10)
        offset = 10 + tag_size + (10 if has_footer else 0)
    return _frames_follow(file, offset)


def _frames_follow(file: BinaryIO, position: int) -> bool:
    for _ in range(_FRAMES_TO_CHECK):
        file.seek(position)
        length = mpeg_frame_length(file.read(4))
        if length is None or length < 4:
            return False
        position += length
    return True


def base_name(filename: str) -> str:
    """The file's own name without any folder: a browser uploading a folder sends `songs/a.mp3`
    (and Windows clients may use backslashes)."""
    return re.split(r"[/\\]", filename)[-1].replace("\x00", "")


def safe_stem(filename: str) -> str:
    """A lower-case slug of the file's name, for readable stored names."""
    stem = Path(filename).stem
    stem = unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode().lower()
    slug = re.sub(r"[^a-z0-9]+", "-", stem).strip("-")
    return slug[:60] or "song"


def stored_song(folder: Path, name: str) -> Path | None:
    """The song `name` of `folder` when it is one to touch: a stored name, a regular file and
    not a symbolic link, inside the folder once resolved. A link (`x.mp3 → /etc/passwd`) would
    otherwise be listed, served and mixed into a public video."""
    if not SONG_NAME_PATTERN.fullmatch(name):
        return None
    path = folder / name
    try:
        if path.is_symlink() or not path.is_file():
            return None
        inside = path.resolve().parent == folder.resolve()
    except OSError:
        return None
    return path if inside else None


def stored_songs(folder: Path) -> list[Path]:
    """Every song of the folder `stored_song` accepts, sorted by name."""
    if not folder.is_dir():
        return []
    found = (stored_song(folder, path.name) for path in folder.glob("*.mp3"))
    return sorted(path for path in found if path is not None)


def remux_command(ffmpeg_exe: str, output: Path) -> list[str]:
    """ffmpeg copying the MP3 audio of stdin into `output`: the input read as MP3 only (never
    guessed) through the pipe protocol only, one audio stream copied as it is, tags, pictures
    and chapters dropped, and no ID3 tag written, so the stored file starts with a frame."""
    return [
        ffmpeg_exe, "-hide_banner", "-nostats", "-loglevel", "error",
        "-protocol_whitelist", "pipe", "-f", "mp3", "-i", "pipe:0",
        "-map", "0:a:0", "-c:a", "copy", "-map_metadata", "-1", "-map_chapters", "-1",
        "-id3v2_version", "0", "-fflags", "+bitexact", "-f", "mp3", "-y", f"file:{output}",
    ]  # fmt: skip


class SongLibrary(ABC):
    """The songs: in the data folder's `songs/` (FolderSongs) or under `songs/` in the bucket
    (BucketSongs). Names are generated here; callers never choose a path."""

    def __init__(self, *, max_song_bytes: int = DEFAULT_MAX_SONG_BYTES) -> None:
        self.max_song_bytes = max_song_bytes

    @abstractmethod
    def songs(self) -> list[Song]:
        """Every song, with its size and time."""

    def names(self) -> list[str]:
        """Every song's name, sorted."""
        return sorted(song.name for song in self.songs())

    @abstractmethod
    def exists(self, name: str) -> bool:
        """Whether `name` is a stored song's."""

    @abstractmethod
    def delete(self, name: str) -> None:
        """Delete the song; NotFound when there is none of that name."""

    @abstractmethod
    def local_copy(self, name: str, folder: Path) -> Path:
        """A file of the song to mix: the stored file itself, or a copy made in `folder`.
        NotFound when there is none of that name."""

    @abstractmethod
    def _keep(self, staging: Path, name: str) -> None:
        """Store the checked file `staging` as the song `name`, whole or not at all."""

    def add_each(self, incoming: list[IncomingSong], *, ffmpeg_exe: str) -> UploadOutcome:
        """Store every file that is an MP3 and skip each other one, saying why; the library is
        never emptied first, and a file is stored whole or not at all."""
        if not incoming:
            raise BadRequest("songs: no files were uploaded.")
        stored: list[str] = []
        skipped: list[SkippedFile] = []
        with tempfile.TemporaryDirectory(dir=self._staging_parent(), prefix=STAGING_PREFIX) as tmp:
            for song in incoming:
                name = base_name(song.filename)
                try:
                    self._check(song, name=name)
                    final = f"{safe_stem(name)}-{secrets.token_hex(4)}.mp3"
                    staging = Path(tmp) / final
                    _remux(song.file, staging, ffmpeg_exe=ffmpeg_exe)
                    self._keep(staging, final)
                    stored.append(final)
                except _Refused as refused:
                    skipped.append(SkippedFile(name, refused.reason))
        return UploadOutcome(stored, skipped)

    def _staging_parent(self) -> Path | None:
        return None

    def _check(self, song: IncomingSong, *, name: str) -> None:
        if not name:
            raise _Refused("the file has no name")
        if song.size_bytes > self.max_song_bytes:
            raise _Refused(f"larger than {self.max_song_bytes / (1024 * 1024):g} MB")
        if song.size_bytes == 0:
            raise _Refused("the file is empty")
        if not is_mp3(song.file):
            raise _Refused(NOT_MP3)


class FolderSongs(SongLibrary):
    """The songs folder of the data folder."""

    def __init__(self, folder: Path, *, max_song_bytes: int = DEFAULT_MAX_SONG_BYTES) -> None:
        super().__init__(max_song_bytes=max_song_bytes)
        self.folder = folder

    def songs(self) -> list[Song]:
        songs = []
        for path in stored_songs(self.folder):
            stat = path.stat()
            songs.append(Song(path.name, stat.st_size, datetime.fromtimestamp(stat.st_mtime, UTC)))
        return songs

    def exists(self, name: str) -> bool:
        return stored_song(self.folder, name) is not None

    def path_of(self, name: str) -> Path:
        """The file of an uploaded song; NotFound for any other name."""
        path = stored_song(self.folder, name)
        if path is None:
            raise NotFound(f"Song not found: {name}")
        return path

    def delete(self, name: str) -> None:
        self.path_of(name).unlink()

    def local_copy(self, name: str, folder: Path) -> Path:
        return self.path_of(name)

    def _staging_parent(self) -> Path:
        # In the songs folder (same file system, so the rename is atomic), under a name starting
        # with a dot, so it is never listed while ffmpeg writes it.
        self.folder.mkdir(parents=True, exist_ok=True)
        return self.folder

    def _keep(self, staging: Path, name: str) -> None:
        os.replace(staging, self.folder / name)


class BucketSongs(SongLibrary):
    """The songs under `songs/` in the bucket; uploads are checked in a temporary folder."""

    def __init__(self, store: ObjectStore, *, max_song_bytes: int = DEFAULT_MAX_SONG_BYTES) -> None:
        super().__init__(max_song_bytes=max_song_bytes)
        self.store = store

    def songs(self) -> list[Song]:
        return [
            Song(found.key.removeprefix(SONGS_PREFIX), found.size_bytes, found.modified_at)
            for found in self.store.list_objects_sync(SONGS_PREFIX)
            if SONG_NAME_PATTERN.fullmatch(found.key.removeprefix(SONGS_PREFIX))
        ]

    def key_of(self, name: str) -> str:
        """The song's key; NotFound for a name that is not a song's."""
        if (
            not SONG_NAME_PATTERN.fullmatch(name)
            or self.store.head_sync(SONGS_PREFIX + name) is None
        ):
            raise NotFound(f"Song not found: {name}")
        return SONGS_PREFIX + name

    def exists(self, name: str) -> bool:
        return SONG_NAME_PATTERN.fullmatch(name) is not None and (
            self.store.head_sync(SONGS_PREFIX + name) is not None
        )

    def delete(self, name: str) -> None:
        self.store.delete_sync([self.key_of(name)])

    def local_copy(self, name: str, folder: Path) -> Path:
        destination = folder / name
        try:
            self.store.download_sync(self.key_of(name), destination)
        except FileNotFoundError:  # deleted between the check and the read
            raise NotFound(f"Song not found: {name}") from None
        return destination

    def _keep(self, staging: Path, name: str) -> None:
        self.store.put_file_sync(SONGS_PREFIX + name, staging, content_type="audio/mpeg")


def song_library(
    songs_dir: Path, *, store: ObjectStore | None, max_song_bytes: int = DEFAULT_MAX_SONG_BYTES
) -> FolderSongs | BucketSongs:
    """The library where the settings keep songs."""
    if store is not None:
        return BucketSongs(store, max_song_bytes=max_song_bytes)
    return FolderSongs(songs_dir, max_song_bytes=max_song_bytes)


def _remux(file: BinaryIO, output: Path, *, ffmpeg_exe: str) -> None:
    """Copy the MP3 audio of `file` into `output` with ffmpeg; refused when ffmpeg cannot. An
    ffmpeg that does not start is the server's fault, not the file's: its OSError goes up."""
    file.seek(0)
    try:
        completed = subprocess.run(
            remux_command(ffmpeg_exe, output), input=file.read(), stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, timeout=REMUX_TIMEOUT_S, check=False,
        )  # fmt: skip
    except subprocess.TimeoutExpired as exc:
        raise _Refused("its MP3 audio took too long to read") from exc
    if completed.returncode != 0 or not output.is_file():
        raise _Refused("its MP3 audio could not be read")
    with output.open("rb") as written:
        if not is_mp3(written):
            raise _Refused("its MP3 audio could not be read")
