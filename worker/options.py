"""The machine configuration the pipeline and its providers need, resolved once from the
settings: which LLM, which footage sources, which voice, where ffmpeg and the fonts are."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict

from app.settings import Settings
from app.songs import FolderSongs
from app.voices import find_espeak
from worker.cache import FileCache


class _Options(BaseModel):
    model_config = ConfigDict(frozen=True)


class LLMOptions(_Options):
    """Which LLM writes scripts, terms and metadata. `none`: the request must carry a script."""

    provider: Literal["ollama", "openai", "none"] = "none"
    base_url: str = ""
    model: str = ""
    api_key: str = ""
    timeout_s: float = 120.0


class FootageOptions(_Options):
    pexels_api_key: str = ""
    pexels_base_url: str = "https://api.pexels.com"
    pixabay_api_key: str = ""
    pixabay_base_url: str = "https://pixabay.com/api"
    media_dir: Path | None = None
    max_download_bytes: int = 300 * 1024 * 1024


class VoiceOptions(_Options):
    """`auto`: Piper when its voice is installed and speaks the language, else espeak-ng."""

    provider: Literal["auto", "piper", "espeak", "openai"] = "auto"
    piper_voice: str = "en_US-joe-medium"
    espeak_exe: str | None = None
    speech_base_url: str = ""
    speech_api_key: str = ""
    speech_model: str = "tts-1"


class PipelineOptions(_Options):
    """Machine configuration the pipeline needs, resolved once from the settings. It holds
    secrets (API keys): the worker hands it to the child over a pipe, never in a file."""

    ffmpeg_exe: str
    max_script_words: int = 1500
    font_name: str = "DejaVu Sans"
    fonts_dir: Path | None = None
    songs_dir: Path | None = None
    cache_dir: Path | None = None  # sentences spoken and clips downloaded, for any job (cache.py)
    llm: LLMOptions = LLMOptions()
    footage: FootageOptions = FootageOptions()
    voice: VoiceOptions = VoiceOptions()

    def cache(self) -> FileCache | None:
        return FileCache(self.cache_dir) if self.cache_dir is not None else None

    def song_library(self) -> FolderSongs | None:
        """The songs a job can use (with a bucket, the one its worker copied in for it)."""
        return FolderSongs(self.songs_dir) if self.songs_dir is not None else None

    @classmethod
    def from_settings(cls, settings: Settings) -> PipelineOptions:
        return cls(
            ffmpeg_exe=settings.ffmpeg_exe,
            max_script_words=settings.max_script_words,
            fonts_dir=settings.fonts_dir,
            songs_dir=settings.songs_dir.resolve(),
            cache_dir=settings.cache_dir.resolve() if settings.cache_max_mb else None,
            llm=llm_options(settings),
            footage=FootageOptions(
                pexels_api_key=settings.pexels_api_key,
                pexels_base_url=settings.pexels_base_url,
                pixabay_api_key=settings.pixabay_api_key,
                pixabay_base_url=settings.pixabay_base_url,
                media_dir=settings.footage_dir.resolve(),
                max_download_bytes=settings.max_download_bytes,
            ),
            voice=VoiceOptions(
                provider=settings.tts_provider,
                piper_voice=settings.piper_voice,
                espeak_exe=find_espeak(),
                speech_base_url=settings.speech_base_url,
                speech_api_key=settings.speech_api_key,
                speech_model=settings.speech_model,
            ),
        )


def llm_options(settings: Settings) -> LLMOptions:
    """`auto` picks the OpenAI-compatible server when one is configured, else Ollama."""
    provider = settings.llm_provider
    if provider == "auto":
        provider = "openai" if settings.openai_base_url else "ollama"
    if provider == "openai":
        return LLMOptions(
            provider="openai",
            base_url=settings.openai_base_url or "https://api.openai.com/v1",
            model=settings.openai_model,
            api_key=settings.openai_api_key,
            timeout_s=settings.llm_timeout_s,
        )
    if provider == "ollama":
        return LLMOptions(
            provider="ollama",
            base_url=settings.ollama_base_url,
            model=settings.ollama_model,
            timeout_s=settings.llm_timeout_s,
        )
    return LLMOptions(provider="none")
