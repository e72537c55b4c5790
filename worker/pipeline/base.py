"""What the pipeline takes and gives: options, progress events, results, and its one error type."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.settings import Settings


class PipelineError(Exception):
    """A stage failed. `retryable` says whether running the same job again could succeed."""

    def __init__(self, message: str, *, retryable: bool, stage: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable
        self.stage = stage


@dataclass(frozen=True)
class ProgressEvent:
    """`progress` is the whole job's (0..1); an event with a `message` is also a log line."""

    stage: str
    progress: float
    message: str | None = None
    level: str = "info"


Report = Callable[[ProgressEvent], None]


@dataclass(frozen=True)
class PipelineOptions:
    """Machine configuration the pipeline needs, resolved once from the settings."""

    ffmpeg_exe: str
    espeak_exe: str | None = None
    font_name: str = "DejaVu Sans"

    @classmethod
    def from_settings(cls, settings: Settings) -> PipelineOptions:
        return cls(ffmpeg_exe=settings.ffmpeg_exe, espeak_exe=shutil.which("espeak-ng"))

    def to_json(self) -> dict[str, Any]:
        return {
            "ffmpegExe": self.ffmpeg_exe,
            "espeakExe": self.espeak_exe,
            "fontName": self.font_name,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PipelineOptions:
        return cls(
            ffmpeg_exe=str(data["ffmpegExe"]),
            espeak_exe=data.get("espeakExe") or None,
            font_name=str(data.get("fontName") or "DejaVu Sans"),
        )


@dataclass(frozen=True)
class OutputFile:
    """A file the pipeline made, inside its work folder, with the media facts it knows."""

    kind: str
    path: Path
    mime: str
    media: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PipelineResult:
    video: Path
    duration_s: float
    outputs: list[OutputFile]
