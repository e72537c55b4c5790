"""Captions on the beat, measured against the voice itself: after each long pause of a script
(an ellipsis, a paragraph break), the first word's highlight starts within 80 ms of where
ffmpeg's `silencedetect` hears the voice come back, for each local speech engine.

The figures (median and worst error per engine) are printed with `-s` and recorded in
README.md ("Captions on the beat")."""

from __future__ import annotations

import itertools
import re
import shutil
import statistics
import subprocess
import wave
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.settings import find_ffmpeg
from tests.fakes import openai_speech
from tests.fakes.server import serving
from worker.options import VoiceOptions
from worker.pipeline.script import paragraph_ends, split_sentences
from worker.pipeline.voice import VoiceTrack, apportion_words, synthesize_voice
from worker.providers import tts
from worker.providers.espeak_library import espeak_library

FFMPEG = find_ffmpeg()
ESPEAK = shutil.which("espeak-ng")
SCRIPT = (
    "The tide comes in . . . and then it goes out again.\n\n"
    "A new day begins on the shore. Nobody is there . . . except one old dog.\n\n"
    "He waits for the boats. When they come back, he runs to meet them."
)
TOLERANCE_S = 0.08
LONG_PAUSE_S = 0.45  # silences at least this long are the script's pauses


def onsets_after_pauses(voice: Path) -> list[float]:
    return onsets(voice, min_pause_s=LONG_PAUSE_S)


def onsets(voice: Path, *, min_pause_s: float) -> list[float]:
    """Where the voice comes back after each silence that long, by ffmpeg's silencedetect."""
    completed = subprocess.run(
        [FFMPEG, "-hide_banner", "-nostats", "-i", str(voice), "-af",
         f"silencedetect=noise=-40dB:d={min_pause_s}", "-f", "null", "-"],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    ends = [float(value) for value in re.findall(r"silence_end: ([\d.]+)", completed.stderr)]
    return [end for end in ends if end < duration_s(voice) - 0.05]  # not the trailing silence


def duration_s(voice: Path) -> float:
    with wave.open(str(voice), "rb") as reader:
        return reader.getnframes() / reader.getframerate()


def errors_s(track: VoiceTrack) -> dict[str, float]:
    """For each onset after a long pause: the word whose highlight starts nearest to it, and by
    how much its start misses the onset."""
    words = [word for sentence in track.sentences for word in sentence.words]
    found = {}
    for onset in onsets_after_pauses(track.path):
        nearest = min(words, key=lambda word: abs(word.start_s - onset))
        found[nearest.text] = nearest.start_s - onset
    return found


def speak(speaker: tts.SpeechEngine, options: VoiceOptions, work_dir: Path) -> VoiceTrack:
    return synthesize_voice(
        split_sentences(SCRIPT), work_dir, language="en", voice=None, options=options,
        on_progress=lambda _done: None, ffmpeg_exe=FFMPEG, engine=speaker,
        paragraph_ends=paragraph_ends(SCRIPT),
    )  # fmt: skip


Engine = tuple[tts.SpeechEngine, VoiceOptions]


@pytest.fixture(params=["piper", "espeak-ng", "openai"])
def engine(request: pytest.FixtureRequest) -> Iterator[Engine]:
    """Piper and espeak-ng, and an OpenAI-compatible server on loopback that speaks (with the
    espeak-ng program) but, like OpenAI's, says nothing of when each word is spoken."""
    if request.param != "piper" and ESPEAK is None:
        pytest.skip("espeak-ng is not installed")
    if request.param == "openai":
        with serving(openai_speech.handler(mode="speech")) as url:
            options = VoiceOptions(
                provider="openai", speech_base_url=f"{url}/v1",
                speech_api_key=openai_speech.API_KEY,
            )  # fmt: skip
            yield tts.engine_for(options, language="en", voice=None), options
        return
    options = (
        VoiceOptions(provider="piper") if request.param == "piper"
        else VoiceOptions(provider="espeak", espeak_exe=ESPEAK)
    )  # fmt: skip
    yield tts.engine_for(options, language="en", voice=None), options


def test_the_first_word_after_each_pause_starts_with_the_voice(
    engine: Engine, tmp_path: Path
) -> None:
    track = speak(*engine, tmp_path)
    engine_name = track.engine
    errors = errors_s(track)

    # The two ellipses and the two paragraph breaks are heard as long pauses, and the word
    # after each is found at the voice's return (other sentence breaks may be long enough too).
    assert {"and", "A", "except", "He"} <= set(errors), errors
    misses_ms = sorted(abs(error) * 1000 for error in errors.values())
    print(
        f"\n{engine_name}: {len(misses_ms)} pauses, median {statistics.median(misses_ms):.0f} ms, "
        f"worst {misses_ms[-1]:.0f} ms: { ({w: round(e * 1000) for w, e in errors.items()}) }"
    )
    assert all(abs(error) <= TOLERANCE_S for error in errors.values()), errors


def test_the_words_inside_a_sentence_start_with_the_voice(engine: Engine, tmp_path: Path) -> None:
    """Inside a sentence the pauses are short (commas): the words after them start where the
    engine says (Piper, espeak-ng) or where its pauses are heard (the server), not where sharing
    the sentence out by letters would put them."""
    if espeak_library() is None:
        pytest.skip("espeak-ng's library is not installed")
    sentence = "Slowly, very slowly, the old boat turns, and then, at last, it is gone."
    track = synthesize_voice(
        [sentence], tmp_path, language="en", voice=None, options=engine[1],
        on_progress=lambda _done: None, ffmpeg_exe=FFMPEG, engine=engine[0],
    )  # fmt: skip
    engine_name = track.engine
    [timed] = track.sentences
    heard = [onset for onset in onsets(track.path, min_pause_s=0.08) if onset > timed.start_s]
    after_commas = [
        word for previous, word in itertools.pairwise(timed.words) if previous.text.endswith(",")
    ]
    assert len(heard) >= 4, heard
    shared = {word.text: word for word in apportion_words(sentence, timed.start_s, timed.end_s)}
    engine_misses, shared_misses = [], []
    for word in after_commas:
        onset = min(heard, key=lambda at: abs(at - word.start_s))
        engine_misses.append(abs(word.start_s - onset))
        shared_misses.append(abs(shared[word.text].start_s - onset))
    print(
        f"\n{engine_name} inside a sentence: {len(after_commas)} words after commas, median "
        f"{statistics.median(engine_misses) * 1000:.0f} ms, worst "
        f"{max(engine_misses) * 1000:.0f} ms as placed; worst "
        f"{max(shared_misses) * 1000:.0f} ms when shared out"
    )
    assert max(engine_misses) <= TOLERANCE_S
    assert max(engine_misses) < max(shared_misses)
