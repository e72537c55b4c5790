"""A followed job's progress on stderr: a `\\r` bar on a terminal, one line per stage elsewhere."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TextIO

from app.client.api import JobEvent

BAR_WIDTH = 28
STAGE_WIDTH = 9
# Below this much progress the rate says little, and the estimate would jump about.
ETA_MIN_PROGRESS = 0.02


def estimate_remaining_s(progress: float, elapsed_s: float) -> float | None:
    """Seconds left at the pace so far (progress 0..1 over `elapsed_s`); None until it means
    something."""
    if progress < ETA_MIN_PROGRESS or elapsed_s <= 0:
        return None
    if progress >= 1:
        return 0.0
    return elapsed_s * (1 - progress) / progress


def format_duration(seconds: float | None) -> str:
    """`m:ss`, `h:mm:ss` past an hour, `--:--` when unknown."""
    if seconds is None or seconds != seconds or seconds < 0:  # None, nan or negative
        return "--:--"
    hours, rest = divmod(round(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class ProgressDisplay:
    """Shows a job's events: a line per stage change, state change, retry or warning; on a
    terminal also a bar redrawn in place (stage, percent, ETA). The clock for the ETA starts when
    the job starts running (time in the queue says nothing about the pace)."""

    def __init__(
        self,
        stream: TextIO,
        *,
        interactive: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream = stream
        self.interactive = stream.isatty() if interactive is None else interactive
        self.clock = clock
        self.stage = ""
        self.progress = 0.0
        self.started_s: float | None = None
        self.drawn = False

    def show(self, event: JobEvent) -> None:
        payload = event.payload
        if "progress" in payload:
            self.progress = min(max(float(payload["progress"]), 0.0), 1.0)
        if event.type == "state":
            self._state(str(payload.get("state", "")), event.message)
        elif event.type == "stage":
            self.stage = str(payload.get("stage") or self.stage)
            if self.started_s is None:
                self.started_s = self.clock()
            self._line(f"{self.stage:<{STAGE_WIDTH}} {event.message}  ETA {self._eta()}")
        elif event.type == "retry":
            self.progress, self.started_s = 0.0, None
            self._line(f"{'retry':<{STAGE_WIDTH}} {event.message}")
        elif event.type == "log" and event.level in ("warning", "error"):
            self._line(f"{event.level:<{STAGE_WIDTH}} {event.message}")
        self._draw()

    def close(self) -> None:
        """Take the bar off the line, so what follows starts on a clean line."""
        self._clear()
        self.stream.flush()

    def _state(self, state: str, message: str) -> None:
        if state == "running":
            self.started_s = self.clock()
            self._line(f"{'running':<{STAGE_WIDTH}} A worker took the job.")
        elif state == "queued":
            self._line(f"{'queued':<{STAGE_WIDTH}} Waiting for a worker.")
        elif state == "completed":
            self.progress = 1.0
            elapsed = None if self.started_s is None else self.clock() - self.started_s
            self._line(f"{'done':<{STAGE_WIDTH}} {message} ({format_duration(elapsed)})")
        else:
            self._line(f"{state:<{STAGE_WIDTH}} {message}")

    def _eta(self) -> str:
        if self.started_s is None:
            return format_duration(None)
        return format_duration(estimate_remaining_s(self.progress, self.clock() - self.started_s))

    def _line(self, text: str) -> None:
        self._clear()
        self.stream.write(f"[{self.progress:4.0%}] {text}\n")
        self.stream.flush()

    def _draw(self) -> None:
        if not self.interactive or self.started_s is None:
            return
        filled = round(BAR_WIDTH * self.progress)
        bar = "#" * filled + "-" * (BAR_WIDTH - filled)
        stage = self.stage or "starting"
        self.stream.write(
            f"\r[{bar}] {self.progress:4.0%} {stage:<{STAGE_WIDTH}} ETA {self._eta()}"
        )
        self.stream.flush()
        self.drawn = True

    def _clear(self) -> None:
        if self.drawn:
            self.stream.write("\r\033[K")
            self.drawn = False
