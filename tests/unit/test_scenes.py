"""Scenes: whole sentences grouped to about the clip duration, cut where a sentence starts."""

from __future__ import annotations

import itertools
import math

import pytest

from app.storyboard import MAX_SCENES
from worker.pipeline.scenes import group_sentences, timed_scenes
from worker.pipeline.voice import TimedText


def spoken(*lengths_s: float, pause_s: float = 0.3) -> list[TimedText]:
    """Sentences of these lengths, one after another with a pause between."""
    sentences, at_s = [], 0.0
    for number, length_s in enumerate(lengths_s):
        sentences.append(TimedText(f"Sentence {number}.", at_s, at_s + length_s))
        at_s += length_s + pause_s
    return sentences


def test_sentences_are_grouped_into_scenes_of_about_the_clip_duration() -> None:
    sentences = spoken(2.0, 2.5, 3.0, 1.5, 2.0, 4.0, 2.5, 3.0)
    duration_s = sentences[-1].end_s + 0.3

    groups = group_sentences(sentences, duration_s=duration_s, scene_s=5.0)
    scenes = timed_scenes(sentences, groups, duration_s=duration_s)

    assert len(groups) == math.ceil(duration_s / 5.0) == 5
    assert [first for first, _ in groups] == sorted({first for first, _ in groups})
    assert groups[0][0] == 0 and groups[-1][1] == len(sentences)
    assert all(end > first for first, end in groups)  # every scene speaks
    # Contiguous, from the start to the end of the voice, each cut where a sentence starts.
    assert scenes[0].start_s == 0.0 and scenes[-1].end_s == duration_s
    for before, after in itertools.pairwise(scenes):
        assert before.end_s == after.start_s
        assert abs(after.start_s - sentences[after.first].start_s) <= 1 / 60
        assert round(after.start_s * 30, 6).is_integer()  # on a frame of the render
    assert max(scene.length_s for scene in scenes) < 2 * 5.0


@pytest.mark.parametrize("scene_s", [1.0, 2.0])
def test_never_more_scenes_than_sentences(scene_s: float) -> None:
    sentences = spoken(6.0, 7.0)

    groups = group_sentences(sentences, duration_s=13.6, scene_s=scene_s)

    assert groups == [(0, 1), (1, 2)]


def test_a_short_voice_is_one_scene() -> None:
    sentences = spoken(1.0, 1.0, 1.0)

    assert group_sentences(sentences, duration_s=3.9, scene_s=5.0) == [(0, 3)]


def test_a_long_voice_has_no_more_scenes_than_a_storyboard_holds() -> None:
    sentences = spoken(*([2.0] * 150))

    groups = group_sentences(sentences, duration_s=sentences[-1].end_s, scene_s=1.0)

    assert len(groups) == MAX_SCENES
