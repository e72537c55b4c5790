"""`GET /api/voices/{id}/sample`: a real WAV from Piper and from espeak-ng, kept for the next
request, and a clear 404 for a voice that is not installed."""

from __future__ import annotations

import asyncio
import io
import wave

import httpx

from app.settings import Settings


def wav_seconds(data: bytes) -> float:
    with wave.open(io.BytesIO(data)) as audio:
        return audio.getnframes() / audio.getframerate()


async def test_every_kind_of_voice_has_a_sample(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    voices = (await client.get("/api/voices")).json()["voices"]
    piper = next(voice["id"] for voice in voices if voice["engine"] == "piper")
    espeak = next(voice["id"] for voice in voices if voice["engine"] == "espeak-ng")

    for voice_id in (piper, espeak):
        response = await client.get(f"/api/voices/{voice_id}/sample")

        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "audio/wav"
        assert 1.5 < wav_seconds(response.content) < 15, voice_id
    samples = sorted(path.name for path in (settings.data_dir / "voice-samples").iterdir())
    assert samples == sorted([f"{piper}.wav", f"{espeak}.wav"])  # no staging file left behind


async def test_a_sample_is_made_once(client: httpx.AsyncClient, settings: Settings) -> None:
    first = await client.get("/api/voices/de/sample")
    path = settings.data_dir / "voice-samples" / "de.wav"
    made_at = path.stat().st_mtime_ns
    second = await client.get("/api/voices/de/sample")

    assert first.status_code == second.status_code == 200
    assert first.content == second.content
    assert path.stat().st_mtime_ns == made_at


async def test_an_unknown_voice_has_no_sample(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    for voice_id in ("no-such-voice", "model.onnx"):
        response = await client.get(f"/api/voices/{voice_id}/sample")

        assert response.status_code == 404, voice_id
        assert response.json()["message"] == f"Voice not found: {voice_id}"
    escape = await client.get("/api/voices/..%2F..%2Fetc%2Fpasswd/sample")
    assert escape.status_code == 404
    assert not (settings.data_dir / "voice-samples").exists()


async def test_requests_at_once_share_one_sample(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    responses = await asyncio.gather(*(client.get("/api/voices/de/sample") for _ in range(4)))

    assert [response.status_code for response in responses] == [200] * 4
    assert len({response.content for response in responses}) == 1
    samples = sorted(path.name for path in (settings.data_dir / "voice-samples").iterdir())
    assert samples == ["de.wav"]
