"""A short spoken sample of each installed voice, for the web page's play button.

Synthesised on first request and kept as `<data dir>/voice-samples/<voice id>.wav` (written under a
temporary name, then renamed, so a reader never sees half a file), or with a bucket configured,
as the object `voice-samples/<voice id>.wav` there. The sentence is English for
every voice: espeak-ng reads it with the voice's own accent and rules, which is what a listener
choosing a voice wants to hear.
"""

from __future__ import annotations

import os
import secrets
import tempfile
import threading
from pathlib import Path

from app.errors import NotFound, ServiceUnavailable
from app.speech import SpeechError, run_espeak, run_piper
from app.storage import ObjectStore
from app.voices import PiperVoiceFiles, Voice, espeak_voices, find_espeak, find_piper_voice

SAMPLE_TEXT = "Hello! This is how I will sound, narrating your next video."
# Only installed voices get here, so the locks are few.
_SYNTH_LOCKS: dict[str, threading.Lock] = {}


def voice_sample(voice_id: str, *, samples_dir: Path, piper_voice: str) -> Path:
    """The sample's WAV file, made now if there is none yet. NotFound for a voice that is not
    installed; ServiceUnavailable when its engine fails."""
    voice = _installed_voice(voice_id, piper_voice=piper_voice)
    path = samples_dir / f"{voice_id}.wav"
    if path.is_file():
        return path
    # One synthesis per voice at a time: the requests that arrive meanwhile wait for its file
    # rather than each starting an engine (in the thread pool the other routes use too).
    with _SYNTH_LOCKS.setdefault(voice_id, threading.Lock()):  # setdefault: one lock, atomically
        if path.is_file():
            return path
        samples_dir.mkdir(parents=True, exist_ok=True)
        staging = samples_dir / f".{voice_id}.{secrets.token_hex(4)}.part.wav"
        try:
            _synthesize(voice, staging)
            os.replace(staging, path)
        finally:
            staging.unlink(missing_ok=True)
    return path


def stored_voice_sample(voice_id: str, *, store: ObjectStore, piper_voice: str) -> str:
    """The key of the sample in the bucket (`voice-samples/<voice id>.wav`), made now and
    uploaded if there is none yet. Two API hosts asking at once may both make it; the store
    keeps one whole object either way."""
    _installed_voice(voice_id, piper_voice=piper_voice)  # NotFound before any store request
    key = f"voice-samples/{voice_id}.wav"
    if store.head_sync(key) is not None:
        return key
    with tempfile.TemporaryDirectory(prefix="moneyprinter-voice-") as folder:
        path = voice_sample(voice_id, samples_dir=Path(folder), piper_voice=piper_voice)
        store.put_file_sync(key, path, content_type="audio/wav")
    return key


def _installed_voice(voice_id: str, *, piper_voice: str) -> PiperVoiceFiles | Voice:
    """A voice `GET /api/voices` lists: the configured Piper voice (which may be a model path),
    a Piper voice package, or an espeak-ng voice."""
    configured = find_piper_voice(piper_voice)
    if configured is not None and configured.voice.id == voice_id:
        return configured
    if not voice_id.endswith(".onnx"):  # a job may name a model file; a sample may not
        piper = find_piper_voice(voice_id)
        if piper is not None:
            return piper
    for voice in espeak_voices():
        if voice.id == voice_id:
            return voice
    raise NotFound(f"Voice not found: {voice_id}")


def _synthesize(voice: PiperVoiceFiles | Voice, out: Path) -> None:
    if isinstance(voice, PiperVoiceFiles):
        name = f"piper voice {voice.voice.id}"
    else:
        name = f"espeak-ng voice {voice.id}"
    try:
        if isinstance(voice, PiperVoiceFiles):
            with tempfile.TemporaryDirectory(dir=out.parent, prefix=".piper-") as folder:
                [wav] = run_piper(voice, [SAMPLE_TEXT], Path(folder))
                wav.replace(out)
        else:
            espeak = find_espeak()
            if espeak is None:
                raise ServiceUnavailable("espeak-ng is not installed.")
            run_espeak(espeak, voice.id, SAMPLE_TEXT, out, words_per_min=None)
    except SpeechError as exc:
        raise ServiceUnavailable(f"The {name} failed: {exc.message}") from exc
    if not out.is_file() or out.stat().st_size == 0:
        raise ServiceUnavailable(f"The {name} failed: no audio")
