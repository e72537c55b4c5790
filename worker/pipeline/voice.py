"""The voice stage: espeak-ng sentence by sentence (exact timings), or timed silence without it."""

from __future__ import annotations

import shutil
import subprocess
import wave
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from worker.pipeline.base import PipelineError
from worker.pipeline.script import count_words

STAGE = "voice"
ESTIMATED_WORDS_PER_S = 2.5
MIN_SENTENCE_S = 1.0
ESPEAK_TIMEOUT_S = 120.0
ESPEAK_WORDS_PER_MIN = 165


@dataclass(frozen=True)
class TimedText:
    text: str
    start_s: float
    end_s: float


@dataclass(frozen=True)
class VoiceTrack:
    """The narration: a WAV file (None when silent), its length, and each sentence's span in it."""

    path: Path | None
    duration_s: float
    sentences: list[TimedText]
    engine: str


def estimate_speech_s(text: str) -> float:
    return max(count_words(text) / ESTIMATED_WORDS_PER_S, MIN_SENTENCE_S)


def silent_track(sentences: list[str]) -> VoiceTrack:
    """Sentence spans estimated from their words at 2.5 words/s, for a video without a voice."""
    timed: list[TimedText] = []
    start_s = 0.0
    for sentence in sentences:
        end_s = start_s + estimate_speech_s(sentence)
        timed.append(TimedText(sentence, start_s, end_s))
        start_s = end_s
    return VoiceTrack(path=None, duration_s=start_s, sentences=timed, engine="silence")


def espeak_voices(*, voice: str | None, language: str) -> list[str]:
    """espeak-ng voice names to try, best first: the requested voice, the language, its base."""
    dialect = language.replace("_", "-").lower()
    candidates = [voice, dialect, dialect.split("-")[0]]
    return list(dict.fromkeys(name for name in candidates if name))


def synthesize_espeak(
    sentences: list[str],
    work_dir: Path,
    *,
    espeak_exe: str,
    voices: list[str],
    on_sentence: Callable[[int], None],
) -> VoiceTrack:
    """One WAV per sentence (so each span is exact), joined into `voice.wav`."""
    parts_dir = work_dir / "voice-parts"
    parts_dir.mkdir(exist_ok=True)
    voice = _first_working_voice(espeak_exe, voices, parts_dir)
    parts: list[Path] = []
    for index, sentence in enumerate(sentences):
        part = parts_dir / f"{index:04d}.wav"
        _run_espeak(espeak_exe, voice=voice, text=sentence, out=part)
        parts.append(part)
        on_sentence(index + 1)
    output = work_dir / "voice.wav"
    spans_s = _join_wavs(parts, output)
    shutil.rmtree(parts_dir)
    timed: list[TimedText] = []
    start_s = 0.0
    for sentence, span_s in zip(sentences, spans_s, strict=True):
        timed.append(TimedText(sentence, start_s, start_s + span_s))
        start_s += span_s
    return VoiceTrack(path=output, duration_s=start_s, sentences=timed, engine=f"espeak-ng:{voice}")


def _first_working_voice(espeak_exe: str, voices: list[str], parts_dir: Path) -> str:
    probe = parts_dir / "probe.wav"
    for voice in voices:
        try:
            _run_espeak(espeak_exe, voice=voice, text="a", out=probe)
        except PipelineError:
            continue
        return voice
    raise PipelineError(
        f"espeak-ng has no voice for {' or '.join(repr(v) for v in voices)}; "
        "choose another `language` (see `espeak-ng --voices`).",
        retryable=False,
        stage=STAGE,
    )


def _run_espeak(espeak_exe: str, *, voice: str, text: str, out: Path) -> None:
    # The text goes through stdin, so a sentence starting with "-" is never read as an option.
    try:
        completed = subprocess.run(
            [espeak_exe, "-v", voice, "-s", str(ESPEAK_WORDS_PER_MIN), "-w", str(out), "--stdin"],
            input=text.encode("utf-8"),
            capture_output=True,
            timeout=ESPEAK_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise PipelineError(f"espeak-ng did not run: {exc}", retryable=True, stage=STAGE) from exc
    if completed.returncode != 0 or not out.is_file():
        detail = completed.stderr.decode("utf-8", "replace").strip() or "no output"
        raise PipelineError(
            f"espeak-ng failed with voice {voice!r}: {detail}", retryable=False, stage=STAGE
        )


def _join_wavs(parts: list[Path], output: Path) -> list[float]:
    """Concatenate same-format WAVs; returns each part's length in seconds."""
    spans_s: list[float] = []
    with wave.open(str(output), "wb") as writer:
        for index, part in enumerate(parts):
            with wave.open(str(part), "rb") as reader:
                if index == 0:
                    writer.setparams(reader.getparams())
                frames = reader.readframes(reader.getnframes())
                spans_s.append(reader.getnframes() / reader.getframerate())
            writer.writeframes(frames)
    return spans_s
