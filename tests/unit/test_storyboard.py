"""A reviewer's edits of a storyboard (app/storyboard.py), without a server: scenes by position,
clips by key, times kept while the narration is the same, each refusal naming its place."""

from __future__ import annotations

import pytest

from app.storyboard import (
    MAX_SCENE_CHARS,
    EditError,
    SceneEdit,
    Storyboard,
    StoryboardEdit,
    StoryClip,
    StoryScene,
    apply_edit,
)

SPEC = {"videoSubject": "Octopuses", "fontSize": 80}


def board(*texts: str) -> Storyboard:
    clips = {f"Pexels:{n}": StoryClip(source="Pexels", id=str(n)) for n in range(1, 6)}
    scenes = [
        StoryScene(
            text=text, start_s=float(n), end_s=float(n + 1), clip=f"Pexels:{n + 1}",
            candidates=["Pexels:5"],
        )
        for n, text in enumerate(texts)
    ]  # fmt: skip
    return Storyboard(scenes=scenes, clips=clips)


def edit(*scenes: SceneEdit, **settings: object) -> StoryboardEdit:
    return StoryboardEdit.model_validate({"scenes": list(scenes) or None, **settings})


def test_a_scene_given_its_text_keeps_its_clip_and_later_scenes_lose_their_times() -> None:
    edited, spec = apply_edit(
        board("One.", "Two.", "Three."), SPEC, edit(SceneEdit(), SceneEdit(text="Deux."),
                                                     SceneEdit()), max_words=100,
    )  # fmt: skip

    assert [scene.text for scene in edited.scenes] == ["One.", "Deux.", "Three."]
    assert [scene.clip for scene in edited.scenes] == ["Pexels:1", "Pexels:2", "Pexels:3"]
    assert [scene.start_s for scene in edited.scenes] == [0.0, None, None]
    assert edited.revision == 1 and {key: spec[key] for key in SPEC} == SPEC


def test_a_reorder_carries_each_clip_with_its_candidates() -> None:
    edited, _ = apply_edit(
        board("One.", "Two."),
        SPEC,
        edit(SceneEdit(text="Two.", clip="Pexels:2"), SceneEdit(text="One.", clip="Pexels:1")),
        max_words=100,
    )

    assert [scene.clip for scene in edited.scenes] == ["Pexels:2", "Pexels:1"]
    assert all(scene.candidates == ["Pexels:5"] for scene in edited.scenes)
    assert [scene.start_s for scene in edited.scenes] == [None, None]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (edit(SceneEdit(text="?!")), "scenes[0].text"),
        (edit(SceneEdit(), SceneEdit(clip="Pexels:99")), "scenes[1].clip"),
        (edit(SceneEdit(), SceneEdit(), SceneEdit(text="New.")), "scenes[2].clip"),
        (edit(SceneEdit(text="word " * (MAX_SCENE_CHARS // 5 + 1))), "scenes[0].text"),
        (edit(fontSize=500), "fontSize"),
        (edit(color="not a colour"), "color"),
    ],
    ids=["no word", "unknown clip", "added without clip", "too long", "font size", "colour"],
)
def test_a_bad_edit_names_its_scene_and_field(change: StoryboardEdit, field: str) -> None:
    with pytest.raises(EditError) as refused:
        apply_edit(board("One.", "Two."), SPEC, change, max_words=10_000)

    assert refused.value.field == field


def test_the_word_cap_counts_every_scene() -> None:
    with pytest.raises(EditError, match="3 words in all; the limit is 2"):
        apply_edit(board("One.", "Two."), SPEC, edit(SceneEdit(text="One two."), SceneEdit()),
                   max_words=2)  # fmt: skip


def test_a_planned_scene_longer_than_an_edit_may_be_is_kept_as_it_is() -> None:
    long = "word " * (MAX_SCENE_CHARS // 5 + 10)
    edited, _ = apply_edit(board(long.strip(), "Two."), SPEC, edit(SceneEdit(), SceneEdit(
        text="Deux.")), max_words=10_000)  # fmt: skip

    assert edited.scenes[0].text == long.strip()


def test_settings_change_the_spec_and_nothing_else() -> None:
    edited, spec = apply_edit(board("One."), SPEC, edit(color="red", useMusic=True), max_words=10)

    assert (spec["color"], spec["useMusic"], spec["fontSize"]) == ("#FF0000", True, 80)
    assert spec["videoSubject"] == "Octopuses"
    assert edited.scenes == board("One.").scenes
