"""The voice stage: one WAV per sentence from a speech engine, joined into `voice.wav`, timed."""

from __future__ import annotations

import itertools
import operator
import re
import shutil
import subprocess
import sys
import wave
from array import array
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.media import forced_input, le_bytes
from app.storage import sha256_file
from worker.cache import FileCache, cache_key
from worker.errors import PipelineError
from worker.options import VoiceOptions
from worker.providers import tts

STAGE = "voice"
PAUSE_S = 0.25  # silence between sentences in voice.wav
ELLIPSIS_PAUSE_S = 0.6  # after a sentence that trails off ("…")
PARAGRAPH_PAUSE_S = 0.8  # where a paragraph ends
SAMPLE_WIDTH_BYTES = 2  # voice.wav is 16-bit mono PCM at the first sentence's rate
# Speech starts at the first 10 ms window louder than 5 % of the sentence's loudest window (and
# than ≈ −40 dBFS): engines pad sentences with silence that subtitles should not wait through.
WINDOW_S = 0.01
SILENCE_RELATIVE = 0.05
SILENCE_FLOOR_RMS = 330.0
# Word weights when apportioning a sentence: a digit is spoken as a whole word ("3" → "three"),
# punctuation inside a sentence is a short pause.
DIGIT_WEIGHT = 3.0
PAUSE_WEIGHT = {",": 2.0, ";": 2.5, ":": 2.5, "—": 2.5, "-": 1.0, ".": 3.0, "!": 3.0, "?": 3.0}
FFMPEG_TIMEOUT_S = 60.0
MIN_WORD_S = 0.01  # a word the engine ran into the next still lights up
MIN_GAP_S = 0.08  # a quieter stretch this long inside a sentence is a pause
CLAUSE_MARKS = (",", ";", ":", "—", "–", "…")
CACHE_KIND = "voice"
CACHE_VERSION = 2  # raised when what a cached sentence holds changes


@dataclass(frozen=True)
class TimedWord:
    text: str
    start_s: float
    end_s: float


@dataclass(frozen=True)
class TimedText:
    """A sentence's speech in voice.wav (leading/trailing silence trimmed) and its words."""

    text: str
    start_s: float
    end_s: float
    words: list[TimedWord] = field(default_factory=list)


@dataclass(frozen=True)
class VoiceTrack:
    """The narration: a WAV file, its length, and each sentence's speech and words in it."""

    path: Path
    duration_s: float
    sentences: list[TimedText]
    engine: str
    reused: int = 0  # sentences taken from the cache instead of spoken again


@dataclass(frozen=True)
class _Part:
    samples: array[int]
    speech_start: int  # first and past-last frame of speech in `samples`
    speech_end: int
    spans: list[tuple[int, int]]  # its stretches of speech, split at pauses
    words: tuple[tts.WordMark, ...] | None  # the engine's, when it gives them


def synthesize_voice(
    sentences: list[str],
    work_dir: Path,
    *,
    language: str,
    voice: str | None,
    options: VoiceOptions,
    on_progress: Callable[[float], None],
    ffmpeg_exe: str = "ffmpeg",
    engine: tts.SpeechEngine | None = None,
    paragraph_ends: list[bool] | None = None,
    cache: FileCache | None = None,
) -> VoiceTrack:
    """Speak each sentence with `engine` (default: the one `options` pick), join them into
    `voice.wav` with a pause after each (`pause_after`; `paragraph_ends` from
    script.paragraph_ends), and time every sentence and word in it. `ffmpeg_exe` converts
    sentence WAVs only when an engine gives them in different formats. A sentence `cache` holds
    for the same engine, voice and text is not spoken again; what is spoken is kept there."""
    engine = engine or tts.engine_for(options, language=language, voice=voice)
    parts_dir = work_dir / "voice-parts"
    shutil.rmtree(parts_dir, ignore_errors=True)  # a previous attempt's leftovers
    on_progress(0.0)
    spoken: list[tts.Spoken | None] = [None] * len(sentences)
    names: set[str] = set()
    keys: list[str] = []
    if cache is not None:
        keys = [
            cache_key(CACHE_VERSION, engine.identity, voice, language, sentence)
            for sentence in sentences
        ]
        for index, key in enumerate(keys):
            found = _cached(cache, key, parts_dir / f"cached-{index:04d}.wav")
            if found is not None:
                spoken[index], name = found
                names.add(name)
    missing = [index for index, part in enumerate(spoken) if part is None]
    if missing:
        fresh = engine.synthesize(
            [sentences[index] for index in missing],
            parts_dir,
            voice=voice,
            language=language,
            on_sentence=lambda done: on_progress(0.9 * done / len(missing)),
        )
        for index, part in zip(missing, fresh, strict=True):
            spoken[index] = part
            if cache is not None:
                _keep(cache, keys[index], part, engine=engine.name)
        names = {engine.name}
    # An engine's name says the voice it settled on, known once it has spoken.
    name = names.pop() if len(names) == 1 else engine.name
    track = _voice_track(
        sentences,
        [part for part in spoken if part is not None],
        work_dir,
        ffmpeg_exe=ffmpeg_exe,
        paragraph_ends=paragraph_ends,
        engine=name,
        reused=len(sentences) - len(missing),
    )
    shutil.rmtree(parts_dir)
    on_progress(1.0)
    return track


def track_record(track: VoiceTrack, *, work_dir: Path) -> dict[str, Any]:
    """The track as JSON for the job's stage record (its WAV by its path in `work_dir`)."""
    return {
        "path": track.path.relative_to(work_dir).as_posix(),
        "durationS": track.duration_s,
        "engine": track.engine,
        "sentences": [
            [timed.text, timed.start_s, timed.end_s,
             [[word.text, word.start_s, word.end_s] for word in timed.words]]
            for timed in track.sentences
        ],
    }  # fmt: skip


def track_from_record(record: dict[str, Any], *, work_dir: Path) -> VoiceTrack:
    """The track `track_record` wrote, its WAV placed in `work_dir` already."""
    sentences = [
        TimedText(text, start_s, end_s, [TimedWord(*word) for word in words])
        for text, start_s, end_s, words in record["sentences"]
    ]
    return VoiceTrack(
        path=work_dir / record["path"], duration_s=float(record["durationS"]),
        sentences=sentences, engine=str(record["engine"]), reused=len(sentences),
    )  # fmt: skip


def _cached(cache: FileCache, key: str, destination: Path) -> tuple[tts.Spoken, str] | None:
    """A sentence's WAV and word marks from the cache, and the engine name it was spoken by."""
    document = cache.read_json(CACHE_KIND, key)
    if not isinstance(document, dict):
        return None
    path = cache.take(CACHE_KIND, key, ".wav", destination)
    if path is None:
        return None
    if sha256_file(path) != document.get("sha256"):
        return None  # another job's WAV for the same sentence landed between the two writes
    marks = document.get("words")
    words = None if marks is None else tuple(tts.WordMark(*mark) for mark in marks)
    return tts.Spoken(path, words), str(document.get("engine", ""))


def _keep(cache: FileCache, key: str, part: tts.Spoken, *, engine: str) -> None:
    """The sentence's WAV, then its word marks with the WAV's digest (two jobs speaking the same
    sentence at once may each write one of the pair: a mismatch reads as no entry)."""
    cache.keep(CACHE_KIND, key, ".wav", part.path)
    words = None if part.words is None else [
        [mark.char_start, mark.char_length, mark.at_s] for mark in part.words
    ]  # fmt: skip
    document = {"engine": engine, "words": words, "sha256": sha256_file(part.path)}
    cache.write_json(CACHE_KIND, key, document)


def _voice_track(
    sentences: list[str],
    spoken: list[tts.Spoken],
    work_dir: Path,
    *,
    ffmpeg_exe: str,
    paragraph_ends: list[bool] | None,
    engine: str,
    reused: int,
) -> VoiceTrack:
    """voice.wav of the sentences' WAVs, joined with their pauses, and its timing."""
    rate_hz = _frame_rate_hz(spoken[0].path)
    parts = [_read_part(part, rate_hz=rate_hz, ffmpeg_exe=ffmpeg_exe) for part in spoken]
    output = work_dir / "voice.wav"
    ends = paragraph_ends or [False] * len(sentences)
    pauses_s = [
        pause_after(text, ends_paragraph)
        for text, ends_paragraph in zip(sentences, ends, strict=True)
    ]
    timed, duration_s = _join(sentences, parts, output, rate_hz=rate_hz, pauses_s=pauses_s)
    return VoiceTrack(
        path=output, duration_s=duration_s, sentences=timed, engine=engine, reused=reused
    )


def _frame_rate_hz(path: Path) -> int:
    with wave.open(str(path), "rb") as reader:
        return reader.getframerate()


def _read_part(spoken: tts.Spoken, *, rate_hz: int, ffmpeg_exe: str) -> _Part:
    path = spoken.path
    with wave.open(str(path), "rb") as reader:
        params = reader.getparams()
        # Frames from the data itself: streamed WAVs (OpenAI's) may declare a bogus length.
        data = reader.readframes(params.nframes)
    if (params.nchannels, params.sampwidth, params.framerate) != (1, 2, rate_hz):
        data = _convert(path, rate_hz=rate_hz, ffmpeg_exe=ffmpeg_exe)
    samples = array("h")
    samples.frombytes(data[: len(data) - len(data) % SAMPLE_WIDTH_BYTES])
    if sys.byteorder == "big":  # WAV samples are little-endian
        samples.byteswap()
    spans = speech_spans(samples, rate_hz=rate_hz)
    start, end = (spans[0][0], spans[-1][1]) if spans else (0, len(samples))
    if spoken.words is not None and params.framerate != rate_hz:
        return _Part(samples, start, end, spans, None)  # resampled: placed by its pauses
    return _Part(samples, start, end, spans, spoken.words)


def _convert(path: Path, *, rate_hz: int, ffmpeg_exe: str) -> bytes:
    """Raw 16-bit mono PCM at `rate_hz`, for a sentence WAV in another format."""
    command = [
        ffmpeg_exe, "-nostdin", "-v", "error", *forced_input("wav", path),
        "-f", "s16le", "-acodec", "pcm_s16le", "-ac", "1", "-ar", str(rate_hz), "-",
    ]  # fmt: skip
    try:
        completed = subprocess.run(
            command, capture_output=True, timeout=FFMPEG_TIMEOUT_S, check=True
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise PipelineError(
            f"could not convert {path.name} to {rate_hz} Hz mono: {exc}",
            retryable=False,
            stage=STAGE,
        ) from exc
    return completed.stdout


def speech_bounds(samples: array[int], *, rate_hz: int) -> tuple[int, int]:
    """First and past-last frame of speech; the whole part when nothing stands out."""
    spans = speech_spans(samples, rate_hz=rate_hz)
    if not spans:
        return (0, 0) if not samples else (0, len(samples))
    return spans[0][0], spans[-1][1]


def speech_spans(samples: array[int], *, rate_hz: int) -> list[tuple[int, int]]:
    """The stretches of speech (first and past-last frame), split where the voice stops for
    MIN_GAP_S or longer: speech is a window louder than SILENCE_RELATIVE of the loudest (and
    than the floor)."""
    window = max(1, round(rate_hz * WINDOW_S))
    energies = []  # mean square per window
    for start in range(0, len(samples), window):
        chunk = samples[start : start + window]
        energies.append(sum(map(operator.mul, chunk, chunk)) / len(chunk))
    if not energies:
        return []
    threshold = max(SILENCE_FLOOR_RMS**2, SILENCE_RELATIVE**2 * max(energies))
    loud = [index for index, energy in enumerate(energies) if energy >= threshold]
    gap_windows = round(MIN_GAP_S / WINDOW_S)
    spans: list[tuple[int, int]] = []
    for index in loud:
        if spans and index - spans[-1][1] < gap_windows:
            spans[-1] = (spans[-1][0], index + 1)
        else:
            spans.append((index, index + 1))
    return [(first * window, min(len(samples), past * window)) for first, past in spans]


def aligned_words(text: str, spans_s: list[tuple[float, float]]) -> list[TimedWord]:
    """Words for an engine that gives no times, placed by the pauses heard in its audio: each
    clause (ended by , ; : — or …) in its own stretch of speech, the clauses matched to the
    widest pauses in order; the whole sentence shared out when the pauses are too few."""
    tokens = text.split()
    clauses: list[list[str]] = [[]]
    for index, token in enumerate(tokens):
        clauses[-1].append(token)
        ends_clause = token.rstrip("\"'”’»)]").endswith(CLAUSE_MARKS)
        if ends_clause and index < len(tokens) - 1:
            clauses.append([])
    clauses = [clause for clause in clauses if clause]
    start_s, end_s = spans_s[0][0], spans_s[-1][1]
    if len(clauses) < 2 or len(spans_s) < len(clauses):
        return apportion_words(text, start_s, end_s)
    gaps = sorted(
        range(1, len(spans_s)), key=lambda i: spans_s[i][0] - spans_s[i - 1][1], reverse=True
    )
    cuts = sorted(gaps[: len(clauses) - 1])
    bounds = [0, *cuts, len(spans_s)]
    words: list[TimedWord] = []
    for clause, first, past in zip(clauses, bounds[:-1], bounds[1:], strict=True):
        words += apportion_words(" ".join(clause), spans_s[first][0], spans_s[past - 1][1])
    return words


def pause_after(sentence: str, ends_paragraph: bool) -> float:
    """The silence after a sentence: longer where a paragraph ends or the sentence trails off."""
    if ends_paragraph:
        return PARAGRAPH_PAUSE_S
    return ELLIPSIS_PAUSE_S if sentence.rstrip("\"'”’»)]").endswith("…") else PAUSE_S


def _join(
    sentences: list[str], parts: list[_Part], output: Path, *, rate_hz: int,
    pauses_s: list[float],
) -> tuple[list[TimedText], float]:  # fmt: skip
    timed: list[TimedText] = []
    offset = 0  # frames written so far
    with wave.open(str(output), "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(SAMPLE_WIDTH_BYTES)
        writer.setframerate(rate_hz)
        for index, (sentence, part) in enumerate(zip(sentences, parts, strict=True)):
            if index:
                pause = array("h", bytes(SAMPLE_WIDTH_BYTES * round(pauses_s[index - 1] * rate_hz)))
                writer.writeframes(le_bytes(pause))
                offset += len(pause)
            writer.writeframes(le_bytes(part.samples))
            start_s = (offset + part.speech_start) / rate_hz
            end_s = (offset + part.speech_end) / rate_hz
            if part.words:
                words = engine_words(
                    sentence, part.words, offset_s=offset / rate_hz, start_s=start_s, end_s=end_s
                )
            else:
                spans_s = [((offset + a) / rate_hz, (offset + b) / rate_hz) for a, b in part.spans]
                words = aligned_words(sentence, spans_s or [(start_s, end_s)])
            timed.append(TimedText(sentence, start_s, end_s, words))
            offset += len(part.samples)
    return timed, offset / rate_hz


def apportion_words(text: str, start_s: float, end_s: float) -> list[TimedWord]:
    """Word spans within a sentence's speech, by spoken weight (letters, digits count as words)
    with short gaps at inner punctuation; used where the engine gives no word timings."""
    tokens = text.split()
    weights = [_spoken_weight(token) for token in tokens]
    pauses = [PAUSE_WEIGHT.get(token[-1], 0.0) for token in tokens[:-1]] + [0.0]
    total = sum(weights) + sum(pauses)
    scale = (end_s - start_s) / total if total else 0.0
    words: list[TimedWord] = []
    cursor = start_s
    for token, weight, pause in zip(tokens, weights, pauses, strict=True):
        word_end = cursor + weight * scale
        words.append(TimedWord(token, cursor, word_end))
        cursor = word_end + pause * scale
    return words


def engine_words(
    text: str, marks: tuple[tts.WordMark, ...], *, offset_s: float, start_s: float,
    end_s: float,
) -> list[TimedWord]:  # fmt: skip
    """The sentence's words (`text.split()`) at the times the engine gave: a word starts at the
    first mark inside its characters (the part starts at `offset_s` in voice.wav), held within
    the sentence's speech; a word the engine did not mark (a dash) shares the time between its
    neighbours; each word ends where the next begins."""
    spans = [(match.start(), match.end()) for match in re.finditer(r"\S+", text)]
    starts: list[float | None] = []
    for first, past in spans:
        mark = next((m for m in marks if first <= m.char_start < past), None)
        at_s = None if mark is None else min(max(offset_s + mark.at_s, start_s), end_s)
        starts.append(at_s)
    starts[0] = start_s  # the engine's first mark includes its lead-in silence
    known = [(index, at_s) for index, at_s in enumerate(starts) if at_s is not None]
    known.append((len(starts), end_s))
    filled: list[float] = []
    for (index, at_s), (following, next_s) in itertools.pairwise(known):
        at_s = max(at_s, filled[-1] if filled else start_s)  # never backwards
        gap = (max(next_s, at_s) - at_s) / (following - index)
        filled += [at_s + gap * step for step in range(following - index)]
    ends = [*filled[1:], end_s]
    return [
        TimedWord(token, at_s, max(ends_s, at_s + MIN_WORD_S))
        for token, at_s, ends_s in zip(text.split(), filled, ends, strict=True)
    ]


def _spoken_weight(token: str) -> float:
    letters = sum(1 for char in token if char.isalpha())
    digits = sum(1 for char in token if char.isdigit())
    return max(1.0, letters + DIGIT_WEIGHT * digits)
