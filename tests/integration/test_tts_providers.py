"""Speech engines for real: Piper and espeak-ng on tiny sentences, an OpenAI-compatible loopback
server for every answer it can give, and `GET /api/voices` over a small app."""

from __future__ import annotations

import shutil
import wave
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from app.api.routes.voices import router
from app.settings import Settings
from app.voices import ORIGINAL_VOICES, find_piper_voice
from tests.fakes import openai_speech
from tests.fakes.server import serving
from worker.errors import PipelineError, ProviderError
from worker.options import VoiceOptions
from worker.pipeline.voice import PAUSE_S, VoiceTrack, synthesize_voice
from worker.providers import tts

ESPEAK = shutil.which("espeak-ng")
needs_espeak = pytest.mark.skipif(ESPEAK is None, reason="espeak-ng is not installed")
SENTENCES = ["Octopuses have nine brains.", "Each arm can taste, and think."]


class RecordingEngine:
    """Passes through to a real engine, noting each sentence WAV's length before the join."""

    def __init__(self, inner: tts.SpeechEngine) -> None:
        self.inner = inner
        self.name = inner.name
        self.durations_s: list[float] = []

    def synthesize(self, sentences: list[str], out_dir: Path, **kwargs: object) -> list[tts.Spoken]:
        parts = self.inner.synthesize(sentences, out_dir, **kwargs)  # type: ignore[arg-type]
        self.name = self.inner.name
        for part in parts:
            with wave.open(str(part.path), "rb") as reader:
                self.durations_s.append(reader.getnframes() / reader.getframerate())
        return parts


def wav_duration_s(path: Path) -> float:
    with wave.open(str(path), "rb") as reader:
        assert (reader.getnchannels(), reader.getsampwidth()) == (1, 2)
        return reader.getnframes() / reader.getframerate()


def speak(
    engine: tts.SpeechEngine, tmp_path: Path, sentences: list[str], progress: list[float]
) -> VoiceTrack:
    track = synthesize_voice(
        sentences, tmp_path, language="en", voice=None, options=VoiceOptions(),
        on_progress=progress.append, engine=engine,
    )  # fmt: skip
    assert progress[0] == 0.0 and progress[-1] == 1.0 and progress == sorted(progress)
    assert not (tmp_path / "voice-parts").exists()
    return track


def assert_timed(track: VoiceTrack, recorded: RecordingEngine) -> None:
    assert track.path is not None
    expected_s = sum(recorded.durations_s) + PAUSE_S * (len(recorded.durations_s) - 1)
    assert all(duration_s > 0.3 for duration_s in recorded.durations_s)
    assert wav_duration_s(track.path) == pytest.approx(expected_s, abs=0.05)
    assert track.duration_s == pytest.approx(expected_s, abs=0.05)
    previous_end_s = 0.0
    for sentence in track.sentences:
        assert previous_end_s <= sentence.start_s < sentence.end_s <= track.duration_s
        assert [word.text for word in sentence.words] == sentence.text.split()
        for word in sentence.words:
            assert sentence.start_s <= word.start_s < word.end_s <= sentence.end_s + 1e-9
            assert word.start_s >= previous_end_s - 1e-9
            previous_end_s = word.end_s


def test_piper_speaks_each_sentence_and_times_it(tmp_path: Path) -> None:
    engine = tts.engine_for(VoiceOptions(), language="en-US", voice=None)
    assert isinstance(engine, tts.PiperEngine)
    recorded = RecordingEngine(engine)
    progress: list[float] = []

    track = speak(recorded, tmp_path, SENTENCES, progress)

    assert track.engine == "piper:en_US-joe-medium"
    assert len(progress) == len(SENTENCES) + 2  # start, each sentence as Piper logs it, joined
    assert_timed(track, recorded)
    # Piper pads a sentence with little silence: speech starts within 0.3 s of its part.
    assert track.sentences[0].start_s < 0.3
    assert track.sentences[1].start_s < recorded.durations_s[0] + PAUSE_S + 0.3


def test_piper_names_the_sentence_that_gave_no_audio(tmp_path: Path) -> None:
    files = find_piper_voice("en_US-joe-medium")
    assert files is not None

    with pytest.raises(PipelineError) as caught:
        tts.PiperEngine(files).synthesize(
            ["Hello there.", "...", "Bye."], tmp_path, voice=None, language="en"
        )

    assert caught.value.message == (
        "piper:en_US-joe-medium produced no audio for sentence 2 ('...')"
    )
    assert caught.value.stage == "voice"


@needs_espeak
def test_espeak_speaks_each_sentence_and_falls_back_to_the_language(tmp_path: Path) -> None:
    assert ESPEAK is not None
    options = VoiceOptions(provider="espeak", espeak_exe=ESPEAK)
    engine = tts.engine_for(options, language="en", voice="no-such-voice")
    recorded = RecordingEngine(engine)

    track = synthesize_voice(
        SENTENCES, tmp_path, language="en-GB", voice="no-such-voice", options=options,
        on_progress=lambda _: None, engine=recorded,
    )  # fmt: skip

    assert track.engine == "espeak-ng:en-gb"
    assert_timed(track, recorded)


@needs_espeak
def test_auto_picks_espeak_for_a_language_piper_does_not_speak(tmp_path: Path) -> None:
    options = VoiceOptions(espeak_exe=ESPEAK)

    track = synthesize_voice(
        ["Guten Tag."], tmp_path, language="de", voice=None, options=options,
        on_progress=lambda _: None,
    )  # fmt: skip

    assert track.engine == "espeak-ng:de"
    assert track.duration_s > 0.3


def speech_options(url: str, *, api_key: str = openai_speech.API_KEY) -> VoiceOptions:
    return VoiceOptions(provider="openai", speech_base_url=f"{url}/v1", speech_api_key=api_key)


def openai_engine(options: VoiceOptions, sleeps: list[float]) -> tts.OpenAISpeechEngine:
    return tts.OpenAISpeechEngine(options, sleep=sleeps.append)


def test_openai_speech_posts_each_sentence_and_joins_the_wavs(tmp_path: Path) -> None:
    fake = openai_speech.handler()
    with serving(fake) as url:
        options = speech_options(url)
        track = synthesize_voice(
            SENTENCES, tmp_path, language="en", voice="nova", options=options,
            on_progress=lambda _: None,
        )  # fmt: skip

    assert track.engine == "openai:tts-1"
    assert [request["body"] for request in fake.requests] == [
        {"model": "tts-1", "input": text, "voice": "nova", "response_format": "wav"}
        for text in SENTENCES
    ]
    assert {request["authorization"] for request in fake.requests} == {
        f"Bearer {openai_speech.API_KEY}"
    }
    spoken_s = [openai_speech.SECONDS_PER_CHAR * len(text) for text in SENTENCES]
    assert track.duration_s == pytest.approx(sum(spoken_s) + PAUSE_S, abs=0.01)
    # A tone from its first sample: speech spans are the parts, to the window (10 ms).
    assert track.sentences[1].start_s == pytest.approx(spoken_s[0] + PAUSE_S, abs=0.011)
    assert track.sentences[1].end_s == pytest.approx(track.duration_s, abs=0.011)


def test_sentences_in_different_formats_are_converted_to_the_first(tmp_path: Path) -> None:
    fake = openai_speech.handler(formats=[(24_000, 1), (16_000, 2)])
    with serving(fake) as url:
        track = synthesize_voice(
            SENTENCES, tmp_path, language="en", voice=None, options=speech_options(url),
            on_progress=lambda _: None,
        )  # fmt: skip

    assert track.path is not None
    with wave.open(str(track.path), "rb") as reader:
        assert (reader.getframerate(), reader.getnchannels()) == (24_000, 1)
    spoken_s = sum(openai_speech.SECONDS_PER_CHAR * len(text) for text in SENTENCES)
    assert track.duration_s == pytest.approx(spoken_s + PAUSE_S, abs=0.01)


def test_openai_speech_refused_key_is_permanent(tmp_path: Path) -> None:
    sleeps: list[float] = []
    with serving(openai_speech.handler()) as url:
        engine = openai_engine(speech_options(url, api_key="wrong"), sleeps)
        with pytest.raises(ProviderError) as caught:
            engine.synthesize(SENTENCES, tmp_path, voice=None, language="en")

    assert caught.value.message == "OpenAI speech: the API key was refused (HTTP 401)"
    assert caught.value.retryable is False
    assert sleeps == []


def test_openai_speech_rate_limit_is_retried(tmp_path: Path) -> None:
    sleeps: list[float] = []
    fake = openai_speech.handler(mode="busy-once")
    with serving(fake) as url:
        paths = openai_engine(speech_options(url), sleeps).synthesize(
            SENTENCES[:1], tmp_path, voice=None, language="en"
        )

    assert len(fake.requests) == 2 and len(sleeps) == 1
    assert wav_duration_s(paths[0].path) > 0


def test_openai_speech_server_error_fails_after_the_retries(tmp_path: Path) -> None:
    sleeps: list[float] = []
    fake = openai_speech.handler(mode="error")
    with serving(fake) as url:
        engine = openai_engine(speech_options(url), sleeps)
        with pytest.raises(ProviderError) as caught:
            engine.synthesize(SENTENCES, tmp_path, voice=None, language="en")

    assert caught.value.message == "OpenAI speech: is unavailable (HTTP 500), after 3 attempts"
    assert caught.value.retryable is True
    assert len(fake.requests) == 3 and len(sleeps) == 2


def test_openai_speech_empty_body_names_the_sentence(tmp_path: Path) -> None:
    with serving(openai_speech.handler(mode="empty")) as url:
        engine = openai_engine(speech_options(url), [])
        with pytest.raises(PipelineError) as caught:
            engine.synthesize(SENTENCES, tmp_path, voice=None, language="en")

    assert caught.value.message == (
        "OpenAI speech produced no audio for sentence 1 ('Octopuses have nine brains.')"
    )


async def test_voices_route_lists_piper_and_espeak_voices() -> None:
    application = FastAPI()
    application.include_router(router)
    application.state.settings = Settings(_env_file=None)
    transport = httpx.ASGITransport(app=application)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        response = await client.get("/api/voices")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "success"
    assert body["default"] == "en_US-joe-medium"
    joe = body["voices"][0]
    assert joe == {
        "id": "en_US-joe-medium", "name": "Joe (en-US)", "engine": "piper", "language": "en-US",
        "default": True,
    }  # fmt: skip
    assert [voice["id"] for voice in body["voices"] if voice["default"]] == ["en_US-joe-medium"]
    if ESPEAK is not None:
        assert {"id": "de", "name": "German", "engine": "espeak-ng", "language": "de",
                "default": False} in body["voices"]  # fmt: skip


@needs_espeak
@pytest.mark.parametrize("voice_id", sorted(ORIGINAL_VOICES))
def test_every_voice_of_the_original_page_speaks_offline(voice_id: str, tmp_path: Path) -> None:
    original = ORIGINAL_VOICES[voice_id]
    options = VoiceOptions(provider="auto", espeak_exe=ESPEAK)

    choice = tts.choose_voice(voice_id, options, language=original.language)
    engine = tts.engine_for(options, language=original.language, voice=choice.voice)
    [part] = engine.synthesize(["Hello."], tmp_path, voice=choice.voice, language=original.language)

    assert choice.replaced == (
        f"The voice {voice_id} ({original.name}) is TikTok's, which is not available"
    )
    piper = find_piper_voice(options.piper_voice)
    if original.kind == "male" and piper is not None and tts.speaks(piper, original.language):
        assert engine.name == f"piper:{piper.voice.id}"
    else:
        # espeak-ng's own voice of that language and kind, never a fallback to another one.
        assert engine.name == f"espeak-ng:{original.espeak}"
    with wave.open(str(part.path), "rb") as reader:
        assert reader.getnframes() > 0


def test_no_voice_chosen_is_the_default_with_a_reason() -> None:
    choice = tts.choose_voice("", VoiceOptions(), language="en")

    assert choice == tts.VoiceChoice(None, "No voice was chosen")
    assert tts.choose_voice(None, VoiceOptions(), language="en") == tts.VoiceChoice(None)
    assert tts.choose_voice("en-gb", VoiceOptions(), language="en") == tts.VoiceChoice("en-gb")
