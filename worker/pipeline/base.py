"""What the pipeline takes and gives besides its options: progress events and results."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class ProgressEvent:
    """`progress` is the whole job's (0..1); an event with a `message` is also a log line."""

    stage: str
    progress: float
    message: str | None = None
    level: str = "info"


Report = Callable[[ProgressEvent], None]


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
    qa_passed: bool = True  # every check after the render passed (worker/pipeline/qa.py)
    clips: list[str] = field(default_factory=list)  # the footage used, as `Candidate.key`s
