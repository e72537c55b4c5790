"""The music library over HTTP: real MP3s in, everything else out, and nothing lost on refusal."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx
import pytest

from app.main import create_app
from app.settings import Settings, find_ffmpeg


@pytest.fixture(scope="session")
def mp3_bytes(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """One second of a tone, encoded by ffmpeg as a real MP3 with an ID3 tag."""
    ffmpeg = find_ffmpeg()
    path = tmp_path_factory.mktemp("audio") / "tone.mp3"
    subprocess.run(
        [
            ffmpeg,
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:duration=1",
            "-c:a",
            "libmp3lame",
            "-b:a",
            "64k",
            "-metadata",
            "title=Tone",
            str(path),
        ],
        check=True,
    )
    return path.read_bytes()


async def upload(client: httpx.AsyncClient, *files: tuple[str, bytes]) -> httpx.Response:
    return await client.post(
        "/api/upload-songs",
        files=[("songs", (name, data, "audio/mpeg")) for name, data in files],
    )


def library(settings: Settings) -> list[str]:
    return sorted(path.name for path in settings.songs_dir.iterdir())


async def test_upload_list_and_delete(
    client: httpx.AsyncClient, settings: Settings, mp3_bytes: bytes
) -> None:
    response = await upload(client, ("Summer Vibes!.mp3", mp3_bytes), ("calm.MP3", mp3_bytes))

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "success" and body["message"] == "Uploaded 2 song(s)."
    stored = body["songs"]
    assert stored[0].startswith("summer-vibes-") and stored[0].endswith(".mp3")
    assert stored[1].startswith("calm-")
    listed = (await client.get("/api/songs")).json()["songs"]
    assert sorted(song["name"] for song in listed) == sorted(stored)
    assert all(song["bytes"] == len(mp3_bytes) for song in listed)
    assert (settings.songs_dir / stored[0]).read_bytes() == mp3_bytes

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


@pytest.mark.parametrize(
    ("name", "data", "status", "message"),
    [
        ("fake.mp3", b"<html>not music</html>" * 100, 400, "songs: fake.mp3 is not an MP3 file."),
        ("empty.mp3", b"", 400, "songs: empty.mp3 is not an MP3 file."),
        ("../../escape.mp3", None, 400, "songs: file name '../../escape.mp3' is not allowed."),
        ("big.mp3", b"\xff\xfb\x90\x64" * 300_000, 413, "songs: big.mp3 is larger than 1 MB."),
    ],
)
async def test_refused_upload_leaves_the_library_unchanged(
    settings: Settings,
    mp3_bytes: bytes,
    name: str,
    data: bytes | None,
    status: int,
    message: str,
) -> None:
    small = settings.model_copy(update={"max_song_bytes": 1024 * 1024})
    application = create_app(small)
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            kept = (await upload(client, ("kept.mp3", mp3_bytes))).json()["songs"]
            before = library(small)

            # A good file beside the bad one: all or nothing, so it is not stored either.
            response = await upload(
                client, ("good.mp3", mp3_bytes), (name, mp3_bytes if data is None else data)
            )

            assert response.status_code == status, response.text
            assert response.json() == {"status": "error", "message": message}
            assert library(small) == before == kept


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
    secret.write_bytes(b"keep me")

    response = await client.delete("/api/songs/..%2Fsecret.mp3")

    assert response.status_code == 404
    assert secret.read_bytes() == b"keep me"
    assert Path(settings.songs_dir).is_dir()


async def test_a_song_plays_with_range_requests(
    client: httpx.AsyncClient, mp3_bytes: bytes
) -> None:
    name = (await upload(client, ("theme.mp3", mp3_bytes))).json()["songs"][0]

    whole = await client.get(f"/api/songs/{name}")
    part = await client.get(f"/api/songs/{name}", headers={"Range": "bytes=0-99"})
    missing = await client.get("/api/songs/nothing-here.mp3")
    outside = await client.get("/api/songs/..%2Fmoneyprinter.db")

    assert whole.status_code == 200 and whole.content == mp3_bytes
    assert whole.headers["content-type"] == "audio/mpeg"
    assert whole.headers["content-disposition"].startswith("inline")
    assert part.status_code == 206 and part.content == mp3_bytes[:100]
    assert missing.status_code == 404
    assert missing.json() == {"status": "error", "message": "Song not found: nothing-here.mp3"}
    assert outside.status_code == 404
