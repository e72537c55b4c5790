"""espeak-ng's library (libespeak-ng) through ctypes: a sentence's speech, and where each of its
words starts in it, which the program `espeak-ng` cannot tell; and a sentence's phonemes, which
a Piper voice speaks (worker/providers/piper_model.py).

The library reports a word event (its characters in the text, and the millisecond of the audio
it starts at) as it synthesises; in the synchronous mode used here, events arrive in the same
callback as the samples. It is loaded at run time, in the pipeline's process only; the API keeps
running the program for its voice samples. espeak-ng is GPL-3.0 and this project is MIT: the
code here is ours, and it calls the library the system installed (docs: README, Decisions).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import threading
from array import array
from dataclasses import dataclass
from functools import cache

# From espeak-ng's speak_lib.h.
AUDIO_OUTPUT_SYNCHRONOUS = 2
INITIALIZE_DONT_EXIT = 0x8000  # the library must never exit() the process on an error
CHARS_UTF8 = 1
POS_CHARACTER = 1
PARAMETER_RATE = 1
EVENT_LIST_TERMINATED = 0
EVENT_WORD = 1
EE_OK = 0
PHONEMES_IPA = 0x02
# How a clause's end reads in a Piper voice's phonemes (its phoneme_id_map has these): what
# espeak-ng reports as the clause's punctuation, dashes as a semicolon's pause.
CLAUSE_ENDS = {".": ".", ",": ",", "!": "!", "?": "?", ";": ";", ":": ":", "—": ";", "–": ";"}


class _Event(ctypes.Structure):
    """`espeak_EVENT`; `id` is a union of an int, a pointer and 8 chars: 8 bytes."""

    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),  # 1-based, in characters
        ("length", ctypes.c_int),  # in characters
        ("audio_position", ctypes.c_int),  # milliseconds from the start of the text's audio
        ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("id", ctypes.c_char * 8),
    ]


_Callback = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event)
)


@dataclass(frozen=True)
class WordMark:
    """Where the engine says a word of a sentence starts: its characters, and its time in the
    sentence's audio."""

    char_start: int  # 0-based, in characters of the sentence
    char_length: int
    at_s: float


class EspeakError(Exception):
    pass


# The library keeps its state (voice, callback, buffers) for the whole process: one user at a time.
_IN_USE = threading.Lock()


class EspeakLibrary:
    """The loaded library; speaking and phonemising hold the process's one lock."""

    def __init__(self, library: ctypes.CDLL) -> None:
        self._lib = library
        self._lock = _IN_USE
        self._samples = array("h")
        self._marks: list[WordMark] = []
        self._lib.espeak_Synth.argtypes = [
            ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint,
            ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p,
        ]  # fmt: skip
        self._lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        self._lib.espeak_TextToPhonemes.argtypes = [
            ctypes.POINTER(ctypes.c_void_p), ctypes.c_int, ctypes.c_int
        ]  # fmt: skip
        self._lib.espeak_TextToPhonemes.restype = ctypes.c_char_p
        self.rate_hz = int(
            self._lib.espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, 0, None, INITIALIZE_DONT_EXIT)
        )
        if self.rate_hz <= 0:
            raise EspeakError("libespeak-ng did not initialise (its data may be missing)")
        self._callback = _Callback(self._receive)  # kept: the library holds only the pointer
        self._lib.espeak_SetSynthCallback(self._callback)

    def speak(
        self, text: str, *, voice: str, words_per_min: int
    ) -> tuple[array[int], list[WordMark]]:
        """16-bit mono samples at `rate_hz`, and the word marks, for one sentence."""
        with self._lock:
            self._samples = array("h")
            self._marks = []
            if self._lib.espeak_SetVoiceByName(voice.encode()) != EE_OK:
                raise EspeakError(f"libespeak-ng has no voice {voice!r}")
            self._lib.espeak_SetParameter(PARAMETER_RATE, words_per_min, 0)
            data = text.encode("utf-8")
            status = self._lib.espeak_Synth(
                data, len(data) + 1, 0, POS_CHARACTER, 0, CHARS_UTF8, None, None
            )
            if status != EE_OK or self._lib.espeak_Synchronize() != EE_OK:
                raise EspeakError(f"libespeak-ng failed on {text!r} (error {status})")
            return self._samples, self._marks

    def phonemes(self, text: str, *, voice: str) -> list[tuple[str, str]]:
        """The sentence's clauses as (IPA phonemes, the punctuation ending it or ""), in order;
        words are separated by spaces."""
        with self._lock:
            if self._lib.espeak_SetVoiceByName(voice.encode()) != EE_OK:
                raise EspeakError(f"libespeak-ng has no voice {voice!r}")
            data = text.encode("utf-8")
            buffer = ctypes.create_string_buffer(data)
            start = ctypes.addressof(buffer)
            cursor = ctypes.c_void_p(start)
            clauses = []
            while cursor.value:
                before = cursor.value - start
                phonemes = self._lib.espeak_TextToPhonemes(
                    ctypes.byref(cursor), CHARS_UTF8, PHONEMES_IPA
                )
                # It reads one character past the clause before it stops: not the clause's own.
                after = cursor.value - start - 1 if cursor.value else len(data)
                read = data[before:after].decode("utf-8", "replace")
                ends = [CLAUSE_ENDS[char] for char in read if char in CLAUSE_ENDS]
                clauses.append(
                    ((phonemes or b"").decode("utf-8").strip(), ends[-1] if ends else "")
                )
            return [(phonemes, end) for phonemes, end in clauses if phonemes]

    def _receive(
        self, wav: ctypes.Array[ctypes.c_short], count: int, events: ctypes.Array[_Event]
    ) -> int:
        if wav and count > 0:
            self._samples.frombytes(ctypes.string_at(wav, count * 2))
        index = 0
        while events[index].type != EVENT_LIST_TERMINATED:
            event = events[index]
            if event.type == EVENT_WORD:
                self._marks.append(
                    WordMark(event.text_position - 1, event.length, event.audio_position / 1000)
                )
            index += 1
        return 0  # go on


def espeak_library() -> EspeakLibrary | None:
    """The library, loaded once per process; None where it is not installed (the programs
    alone then speak, without word times)."""
    with _IN_USE:
        return _load()


@cache
def _load() -> EspeakLibrary | None:
    name = ctypes.util.find_library("espeak-ng") or "libespeak-ng.so.1"
    try:
        return EspeakLibrary(ctypes.CDLL(name))
    except (OSError, EspeakError):
        return None
