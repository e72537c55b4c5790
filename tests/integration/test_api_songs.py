"""The music library over HTTP, sent as the original page sends it (multipart field `songs`, a
folder's files named `songs/<file>`): the MP3s stored as clean MP3s, every other file skipped with
its reason, a playlist disguised as a song refused, and nothing outside the library served."""

from __future__ import annotations

import json
import mimetypes
import subprocess
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from app.main import create_app
from app.settings import Settings, find_ffmpeg
from app.songs import NOT_MP3, mpeg_frame_length

FFMPEG = find_ffmpeg()


def make_mp3(path: Path, *args: str, tone_hz: int = 440) -> bytes:
    """One second of a tone, encoded by ffmpeg as a real MP3 (with an ID3 tag)."""
    subprocess.run(
        [FFMPEG, "-v", "error", "-y", "-f", "lavfi", "-i", f"sine=frequency={tone_hz}:duration=1",
         *args, "-c:a", "libmp3lame", "-b:a", "64k", "-metadata", "title=Tone", str(path)],
        check=True, timeout=60,
    )  # fmt: skip
    return path.read_bytes()


@pytest.fixture(scope="session")
def mp3_bytes(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return make_mp3(tmp_path_factory.mktemp("audio") / "tone.mp3")


def frames_only(mp3: bytes) -> bytes:
    """The MPEG frames of an MP3, without its ID3v2 tag."""
    size = (mp3[6] << 21) | (mp3[7] << 14) | (mp3[8] << 7) | mp3[9]
    return mp3[10 + size :]


def probe(path: Path) -> dict:
    completed = subprocess.run(
        ["ffprobe", "-v", "error", "-print_format", "json", "-show_format", "-show_streams",
         str(path)],
        capture_output=True, check=True, timeout=60,
    )  # fmt: skip
    return json.loads(completed.stdout)


async def upload(client: httpx.AsyncClient, *files: tuple[str, bytes]) -> httpx.Response:
    """A POST as a browser makes it from FormData: each file under `songs`, with its own type."""
    return await client.post(
        "/api/upload-songs",
        files=[
            ("songs", (name, data, mimetypes.guess_type(name)[0] or "application/octet-stream"))
            for name, data in files
        ],
    )


def library(settings: Settings) -> list[str]:
    return sorted(path.name for path in settings.songs_dir.iterdir())


async def test_a_folder_upload_stores_its_mp3s_and_says_why_it_skipped_the_rest(
    client: httpx.AsyncClient, settings: Settings, mp3_bytes: bytes
) -> None:
    response = await upload(
        client,
        ("songs/Summer Vibes!.mp3", mp3_bytes),
        ("songs/cover.jpg", b"\xff\xd8\xff\xe0\x00\x10JFIF" + b"\x00" * 500),
        ("songs/calm.MP3", mp3_bytes),
        ("songs/notes.txt", b"tracklist\n"),
    )

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "success"
    stored = body["songs"]
    assert [name.rsplit("-", 1)[0] for name in stored] == ["summer-vibes", "calm"]
    assert body["skipped"] == [
        {"name": "cover.jpg", "reason": NOT_MP3},
        {"name": "notes.txt", "reason": NOT_MP3},
    ]
    assert body["message"] == (
        f"Uploaded 2 song(s). Skipped cover.jpg: {NOT_MP3}; notes.txt: {NOT_MP3}."
    )
    assert library(settings) == sorted(stored)  # no folder, no staging file left behind
    listed = (await client.get("/api/songs")).json()["songs"]
    assert sorted(song["name"] for song in listed) == sorted(stored)


async def test_a_stored_song_is_a_clean_mp3_from_its_first_byte(
    client: httpx.AsyncClient, settings: Settings, tmp_path: Path
) -> None:
    # Tags, a cover picture and chapters, all of which ffmpeg would carry along.
    cover = tmp_path / "cover.png"
    subprocess.run(
        [FFMPEG, "-v", "error", "-f", "lavfi", "-i", "color=red:s=32x32", "-frames:v", "1",
         str(cover)],
        check=True, timeout=60,
    )  # fmt: skip
    tagged = make_mp3(
        tmp_path / "tagged.mp3", "-i", str(cover), "-map", "0:a", "-map", "1:v",
        "-c:v", "png", "-disposition:v", "attached_pic", "-id3v2_version", "3",
    )  # fmt: skip
    assert probe(tmp_path / "tagged.mp3")["format"]["tags"]["title"] == "Tone"

    response = await upload(client, ("songs/tagged.mp3", tagged))

    [name] = response.json()["songs"]
    stored = settings.songs_dir / name
    data = stored.read_bytes()
    facts = probe(stored)
    assert data[:2] == b"\xff\xfb"  # an MPEG frame at byte 0, no tag before it
    assert b"Tone" not in data and b"PNG" not in data
    assert facts["format"]["format_name"] == "mp3"
    assert [stream["codec_type"] for stream in facts["streams"]] == ["audio"]
    assert "tags" not in facts["format"]
    assert float(facts["format"]["duration"]) == pytest.approx(1.0, abs=0.1)
    # The library lists and serves the stored file.
    listed = (await client.get("/api/songs")).json()["songs"]
    assert [(song["name"], song["bytes"]) for song in listed] == [(name, len(data))]
    assert (await client.get(f"/api/songs/{name}")).content == data


async def test_a_playlist_disguised_as_a_song_is_refused(
    client: httpx.AsyncClient, settings: Settings, mp3_bytes: bytes, tmp_path: Path
) -> None:
    # The attack: an HLS playlist naming a file of the host, then real MP3 frames. ffmpeg, left to
    # guess the format, plays the named file; the old check skipped up to 4 KB before the frames.
    secret = tmp_path / "secret.mp3"
    make_mp3(secret, tone_hz=2500)
    playlist = (
        "#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXT-X-MEDIA-SEQUENCE:0\n"
        f"#EXTINF:1.0,\n{secret}\n#EXT-X-ENDLIST\n"
    ).encode()
    crafted = playlist + frames_only(mp3_bytes)
    kept = (await upload(client, ("kept.mp3", mp3_bytes))).json()["songs"]

    response = await upload(client, ("songs/hit.mp3", crafted))

    assert response.status_code == 400
    assert response.json() == {
        "status": "error",
        "message": f"No MP3 files found. hit.mp3: {NOT_MP3}.",
        "skipped": [{"name": "hit.mp3", "reason": NOT_MP3}],
    }
    assert library(settings) == kept


def frame(header: bytes) -> bytes:
    """An MPEG frame of silence: the header, then zeros to the length it gives."""
    return header + b"\x00" * ((mpeg_frame_length(header) or 4) - 4)


def skipped_name(name: str) -> str:
    return name.rsplit("/", 1)[-1]


@pytest.mark.parametrize(
    ("name", "make", "reason"),
    [
        ("songs/fake.mp3", lambda mp3: b"<html>not music</html>" * 100, NOT_MP3),
        ("empty.mp3", lambda mp3: b"", "the file is empty"),
        ("big.mp3", lambda mp3: frame(b"\xff\xfb\x90\x64") * 3000, "larger than 1 MB"),
        ("songs/", lambda mp3: mp3, "the file has no name"),
        # An MP3 starts at byte 0, or right where its ID3 tag ends: nothing may come between.
        ("junk-first.mp3", lambda mp3: b"junk" + frames_only(mp3), NOT_MP3),
        (
            "junk-after-tag.mp3",
            lambda mp3: b"ID3\x04\x00\x00\x00\x00\x00\x04" + bytes(4) + b"junk" + frames_only(mp3),
            NOT_MP3,
        ),
        # Frames in a row whose sample rates change: ffmpeg cannot read them as one stream.
        (
            "mixed.mp3",
            lambda mp3: b"".join(
                frame(h) for h in (b"\xff\xfb\x90\x64", b"\xff\xfb\x94\x64", b"\xff\xfb\x98\x64")
            ),
            "its MP3 audio could not be read",
        ),
    ],
)
async def test_a_refused_file_is_skipped_with_its_reason_and_the_library_kept(
    settings: Settings,
    mp3_bytes: bytes,
    name: str,
    make: Callable[[bytes], bytes],
    reason: str,
) -> None:
    small = settings.model_copy(update={"max_song_bytes": 1024 * 1024})
    application = create_app(small)
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            kept = (await upload(client, ("kept.mp3", mp3_bytes))).json()["songs"]

            alone = await upload(client, (name, make(mp3_bytes)))
            beside_a_good_one = await upload(
                client, ("good.mp3", mp3_bytes), (name, make(mp3_bytes))
            )

            skipped = [{"name": skipped_name(name), "reason": reason}]
            assert alone.status_code == 400, alone.text
            assert alone.json() == {
                "status": "error",
                "message": f"No MP3 files found. {skipped_name(name) or '(no name)'}: {reason}.",
                "skipped": skipped,
            }
            assert beside_a_good_one.status_code == 200, beside_a_good_one.text
            assert beside_a_good_one.json()["skipped"] == skipped
            [good] = beside_a_good_one.json()["songs"]
            assert library(small) == sorted([*kept, good])


async def test_a_path_in_the_file_name_never_leaves_the_songs_folder(
    client: httpx.AsyncClient, settings: Settings, mp3_bytes: bytes
) -> None:
    response = await upload(
        client, ("../../escape.mp3", mp3_bytes), ("C:\\Music\\win.mp3", mp3_bytes)
    )

    assert response.status_code == 200, response.text
    escape, win = response.json()["songs"]
    assert escape.startswith("escape-") and win.startswith("win-")
    assert library(settings) == sorted([escape, win])
    assert not (settings.data_dir / "escape.mp3").exists()
    assert sorted(path.name for path in settings.data_dir.iterdir()) == ["songs"]


async def test_upload_list_and_delete(
    client: httpx.AsyncClient, settings: Settings, mp3_bytes: bytes
) -> None:
    stored = (await upload(client, ("a.mp3", mp3_bytes), ("b.mp3", mp3_bytes))).json()["songs"]

    deleted = await client.delete(f"/api/songs/{stored[0]}")
    missing = await client.delete(f"/api/songs/{stored[0]}")

    assert deleted.status_code == 200 and deleted.json()["status"] == "success"
    assert missing.status_code == 404
    assert missing.json() == {"status": "error", "message": f"Song not found: {stored[0]}"}
    assert library(settings) == [stored[1]]


async def test_uploaded_song_can_be_chosen_for_a_job(
    client: httpx.AsyncClient, mp3_bytes: bytes
) -> None:
    name = (await upload(client, ("theme.mp3", mp3_bytes))).json()["songs"][0]

    response = await client.post(
        "/api/generate", json={"videoSubject": "tides", "song": name, "useMusic": True}
    )

    assert response.status_code == 200


async def test_a_symlink_in_the_songs_folder_is_never_listed_served_or_chosen(
    client: httpx.AsyncClient, settings: Settings, mp3_bytes: bytes
) -> None:
    real = (await upload(client, ("real.mp3", mp3_bytes))).json()["songs"][0]
    secret = settings.data_dir / "secret.txt"
    secret.write_text("root:x:0:0:root:/root:/bin/bash\n")
    # The attack: links placed in the folder, to a file outside it and to a song inside it.
    (settings.songs_dir / "passwd.mp3").symlink_to(secret)
    (settings.songs_dir / "alias.mp3").symlink_to(settings.songs_dir / real)

    listed = (await client.get("/api/songs")).json()["songs"]
    served = await client.get("/api/songs/passwd.mp3")
    aliased = await client.get("/api/songs/alias.mp3")
    chosen = await client.post("/api/generate", json={"videoSubject": "x", "song": "passwd.mp3"})
    deleted = await client.delete("/api/songs/passwd.mp3")

    assert [song["name"] for song in listed] == [real]
    assert served.status_code == 404 and b"root" not in served.content
    assert served.json() == {"status": "error", "message": "Song not found: passwd.mp3"}
    assert aliased.status_code == 404
    assert chosen.status_code == 400
    assert chosen.json()["message"] == "song: no uploaded song is named 'passwd.mp3'."
    assert deleted.status_code == 404 and secret.read_text().startswith("root")


async def test_request_over_the_total_limit_is_refused_before_storing(
    settings: Settings, mp3_bytes: bytes
) -> None:
    tight = settings.model_copy(update={"max_upload_bytes": len(mp3_bytes) * 2})
    application = create_app(tight)
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            response = await upload(client, *[(f"s{n}.mp3", mp3_bytes) for n in range(3)])

    assert response.status_code == 413
    assert response.json()["message"].startswith("Request body is larger than")
    assert library(tight) == []


async def test_upload_without_files_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/upload-songs", data={"other": "x"})

    assert response.status_code == 400
    assert response.json()["message"].startswith("songs:")


async def test_delete_refuses_names_outside_the_library(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    secret = settings.data_dir / "secret.mp3"
    secret.parent.mkdir(parents=True, exist_ok=True)
    secret.write_bytes(b"keep me")

    response = await client.delete("/api/songs/..%2Fsecret.mp3")

    assert response.status_code == 404
    assert secret.read_bytes() == b"keep me"


async def test_a_song_plays_with_range_requests(
    client: httpx.AsyncClient, settings: Settings, mp3_bytes: bytes
) -> None:
    name = (await upload(client, ("theme.mp3", mp3_bytes))).json()["songs"][0]
    data = (settings.songs_dir / name).read_bytes()

    whole = await client.get(f"/api/songs/{name}")
    part = await client.get(f"/api/songs/{name}", headers={"Range": "bytes=0-99"})
    missing = await client.get("/api/songs/nothing-here.mp3")
    outside = await client.get("/api/songs/..%2Fmoneyprinter.db")

    assert whole.status_code == 200 and whole.content == data
    assert whole.headers["content-type"] == "audio/mpeg"
    assert whole.headers["content-disposition"].startswith("inline")
    assert part.status_code == 206 and part.content == data[:100]
    assert missing.status_code == 404
    assert missing.json() == {"status": "error", "message": "Song not found: nothing-here.mp3"}
    assert outside.status_code == 404
