"""Scenes: the narration cut into runs of whole sentences, each shown over one clip.

A scene starts where its first sentence is spoken (the first scene at 0) and ends where the next
scene starts (the last at the end of the voice), so a cut never falls inside a sentence and a
pause belongs to the scene before it. Scenes last about the request's `clipDuration` (the
original's longest a clip plays): as many as it takes for scenes no longer than that on average,
but never more than there are sentences, nor than a storyboard holds (MAX_SCENES: a long
video's scenes run longer).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from app.storyboard import MAX_SCENES
from worker.pipeline.render import FPS  # boundaries fall on the render's frames
from worker.pipeline.voice import TimedText


@dataclass(frozen=True)
class ScenePlan:
    """Sentences `first` up to (not including) `end` of the voice, from `start_s` to `end_s`."""

    first: int
    end: int
    start_s: float
    end_s: float

    @property
    def length_s(self) -> float:
        return self.end_s - self.start_s


def group_sentences(
    sentences: list[TimedText], *, duration_s: float, scene_s: float
) -> list[tuple[int, int]]:
    """The sentences as consecutive (first, end) runs of about `scene_s` seconds each: each cut
    at the sentence start nearest to its share of the voice, leaving every later scene one."""
    count = len(sentences)
    if count == 0:
        return [(0, 0)]
    scenes = max(1, min(count, math.ceil(duration_s / scene_s - 0.01), MAX_SCENES))
    starts = [0]
    for k in range(1, scenes):
        target_s = duration_s * k / scenes
        choices = range(starts[-1] + 1, count - (scenes - k) + 1)
        starts.append(min(choices, key=lambda i: abs(sentences[i].start_s - target_s)))
    ends = [*starts[1:], count]
    return list(zip(starts, ends, strict=True))


def timed_scenes(
    sentences: list[TimedText], groups: list[tuple[int, int]], *, duration_s: float
) -> list[ScenePlan]:
    """The scenes of `groups` (runs of sentence indices) with their times in the voice."""
    starts_s = [0.0] + [_frame(sentences[first].start_s) for first, _ in groups[1:]]
    ends_s = [*starts_s[1:], duration_s]
    return [
        ScenePlan(first, end, start_s, end_s)
        for (first, end), start_s, end_s in zip(groups, starts_s, ends_s, strict=True)
    ]


def _frame(time_s: float) -> float:
    return round(time_s * FPS) / FPS
