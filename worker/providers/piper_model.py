"""A Piper voice run here, with onnxruntime, so that each word's time comes out with the audio.

A Piper voice is a VITS model (ONNX, CC0 for the voice in use) and a JSON config. Its input is
phoneme ids: espeak-ng's IPA phonemes of the text (worker/providers/espeak_library.py), each
mapped through the config's `phoneme_id_map`, with the pad id after every one, between the
start and end ids. Inside, the model predicts how many audio frames each id lasts (a `Ceil` of
the predicted durations) and the audio is exactly that many frames long; Piper's exported graph
does not return those durations, so the graph is given a second output, the `Ceil`'s, by
appending it to the graph's outputs in the model's protobuf bytes (no ONNX tooling needed).
A word starts where the frames of its first phoneme start.

Piper's own program (app/speech.py) is GPL and is never imported; this module reads the voice's
files and runs them itself. It falls back to the program where espeak-ng's library is missing.
"""

from __future__ import annotations

import json
import re
from array import array
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from app.voices import PiperVoiceFiles
from worker.providers.espeak_library import EspeakLibrary, WordMark

DURATIONS_NODE = "/Ceil_output_0"  # the frames each id lasts, in Piper's exported VITS graph
PAD, START, END = "_", "^", "$"
PEAK = 32767 * 0.95  # the audio is scaled so its loudest sample reaches this (as Piper does)


class PiperModelError(Exception):
    """The voice cannot be run here (Piper's program may still run it)."""


class NoSpeech(PiperModelError):
    """A sentence with nothing to say (no phonemes)."""


def with_output(model: bytes, name: str) -> bytes:
    """The ONNX model with the graph value `name` added to its outputs. ModelProto field 7 is
    the graph; GraphProto field 12 its outputs, each a ValueInfoProto whose field 1 is the name;
    protobuf lets a repeated field's new entry come last."""
    out = bytearray()
    found = False
    for number, start, end in _fields(model):
        chunk = model[start:end]
        if number == 7:
            _, at = _varint(model, start)
            _, at = _varint(model, at)
            graph = model[at:end] + _field(12, _field(1, name.encode()))
            chunk = _field(7, graph)
            found = True
        out += chunk
    if not found:
        raise PiperModelError("the voice's ONNX file has no graph")
    return bytes(out)


def _varint(data: bytes, at: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, at


def _encode_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field."""
    return _encode_varint(number << 3 | 2) + _encode_varint(len(payload)) + payload


def _fields(data: bytes) -> list[tuple[int, int, int]]:
    """Each top-level field as (number, start, end) of its bytes, tag included."""
    found, at = [], 0
    while at < len(data):
        start = at
        key, at = _varint(data, at)
        kind = key & 7
        if kind == 0:
            _, at = _varint(data, at)
        elif kind == 1:
            at += 8
        elif kind == 5:
            at += 4
        elif kind == 2:
            size, at = _varint(data, at)
            at += size
        else:
            raise PiperModelError(f"unexpected protobuf wire type {kind} in the voice's file")
        found.append((key >> 3, start, at))
    return found


@dataclass(frozen=True)
class _Ids:
    ids: list[int]
    word_starts: list[int]  # the index in `ids` of each spoken word's first phoneme


class PiperModel:
    """One voice, loaded (about a second, some 150 MB); `speak` gives a sentence's samples and
    word marks. The voice stage loads it for its sentences and lets it go before the render."""

    def __init__(self, files: PiperVoiceFiles, espeak: EspeakLibrary) -> None:
        import onnxruntime  # imported here: only jobs that speak with Piper load it

        config: dict[str, Any] = json.loads(files.config_path.read_text("utf-8"))
        if not isinstance(config.get("phoneme_id_map"), dict) or "audio" not in config:
            raise PiperModelError(f"{files.voice.id}: its config has no phoneme map or audio")
        self._ids: dict[str, list[int]] = config["phoneme_id_map"]
        self._espeak_voice = str(config.get("espeak", {}).get("voice", "en-us"))
        inference = config.get("inference", {})
        self._scales = np.array(
            [
                inference.get("noise_scale", 0.667),
                inference.get("length_scale", 1.0),
                inference.get("noise_w", 0.8),
            ],
            dtype=np.float32,
        )
        self.rate_hz = int(config["audio"]["sample_rate"])
        self._espeak = espeak
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1  # beside ffmpeg and other jobs, one is as fast
        try:
            self._session = onnxruntime.InferenceSession(
                with_output(files.model_path.read_bytes(), DURATIONS_NODE),
                sess_options=options,
                providers=["CPUExecutionProvider"],
            )
        except Exception as exc:  # onnxruntime's own errors: a graph exported otherwise
            raise PiperModelError(f"{files.voice.id}: {exc}") from exc
        # A voice of several speakers speaks as its first, as Piper's program does by default.
        inputs = {entry.name for entry in self._session.get_inputs()}
        self._speaker = {"sid": np.array([0], dtype=np.int64)} if "sid" in inputs else {}

    def speak(self, text: str) -> tuple[array[int], list[WordMark]]:
        phonemes = self._espeak.phonemes(text, voice=self._espeak_voice)
        encoded = self._encode(phonemes)
        if len(encoded.ids) <= 3:
            raise NoSpeech(f"no phonemes for {text!r}")
        try:
            audio, frames = self._session.run(
                ["output", DURATIONS_NODE],
                {
                    "input": np.array([encoded.ids], dtype=np.int64),
                    "input_lengths": np.array([len(encoded.ids)], dtype=np.int64),
                    "scales": self._scales,
                    **self._speaker,
                },
            )
        except Exception as exc:  # onnxruntime's own errors
            raise PiperModelError(f"the voice did not run: {exc}") from exc
        samples = audio.reshape(-1)
        per_id = frames.reshape(-1)
        seconds_per_frame = len(samples) / max(1.0, float(per_id.sum())) / self.rate_hz
        ends = np.cumsum(per_id) * seconds_per_frame
        starts = [0.0, *ends[:-1].tolist()]
        peak = max(0.01, float(np.abs(samples).max()))
        scaled = np.clip(samples * (PEAK / peak), -32768, 32767).astype(np.int16)
        marks = word_marks(
            text, [starts[index] for index in encoded.word_starts], spoken_words=self._spoken_words
        )
        return array("h", scaled.tobytes()), marks

    def _spoken_words(self, word: str) -> int:
        clauses = self._espeak.phonemes(word, voice=self._espeak_voice)
        return sum(len(phonemes.split()) for phonemes, _ in clauses)

    def _encode(self, clauses: list[tuple[str, str]]) -> _Ids:
        """Phonemes to ids: start, then each phoneme followed by the pad, then end. A character
        the voice does not know is skipped."""
        ids = [*self._ids[START], *self._ids[PAD]]
        word_starts: list[int] = []
        for number, (phonemes, punctuation) in enumerate(clauses):
            text = phonemes + punctuation + (" " if number < len(clauses) - 1 else "")
            at_word_start = True
            for char in text:
                if char == " ":
                    at_word_start = True
                elif at_word_start and char not in ",.!?;:":
                    word_starts.append(len(ids))
                    at_word_start = False
                for value in self._ids.get(char, ()):
                    ids += [value, *self._ids[PAD]]
        ids += self._ids[END]
        return _Ids(ids, word_starts)


def word_marks(
    text: str, starts_s: list[float], *, spoken_words: Callable[[str], int]
) -> list[WordMark]:
    """The spoken words' start times given to the text's words that have letters or digits. A
    text word may be spoken as several ("2024": "twenty twenty four") or as none: each is
    counted on its own (`spoken_words`), and when the counts add up to what was spoken, each
    text word gets its first spoken word's time; otherwise they are spread evenly."""
    tokens = [match for match in re.finditer(r"\S+", text) if re.search(r"\w", match.group())]
    if not tokens or not starts_s:
        return []
    counts = [spoken_words(token.group()) for token in tokens]
    if sum(counts) == len(starts_s):
        firsts = [sum(counts[:number]) for number in range(len(tokens))]
        firsts = [min(first, len(starts_s) - 1) for first in firsts]
    else:
        firsts = [number * len(starts_s) // len(tokens) for number in range(len(tokens))]
    return [
        WordMark(token.start(), len(token.group()), starts_s[first])
        for token, first in zip(tokens, firsts, strict=True)
    ]
