"""A storyboard: the plan of a video that waits for review (`"review": true`) — its scenes in
order, each with its narration, its time in the voice and its clip — and the edits a reviewer
may make to it before the render.

The worker writes one after the planning stages (script, voice, footage choice); the API keeps it
in the job's row, so any API host can show and edit it; the render reads it back. Clips are
named by their key, `<source>:<id>`, in the storyboard's own `clips`: the chosen ones, the
candidates found for each scene, and later the clips a reviewer searched for. An edit can only
name a clip the storyboard holds, so a client never points the worker at an address of its own.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel

from app.domain import VideoSpec, count_words

MAX_SCENES = 60
MAX_SCENE_CHARS = 2000
# What a review may change of the request besides the scenes: the voice, the music, the subtitles.
SPEC_FIELDS = (
    "voice", "song", "use_music", "music_volume", "color", "subtitles_position", "font_size",
    "word_highlight",
)  # fmt: skip


class _Wire(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class StoryClip(_Wire):
    """A clip a scene can show, as its source described it."""

    source: str
    id: str
    description: str = ""
    duration_s: float = 0.0
    width_px: int = 0
    height_px: int = 0
    page_url: str = Field("", description="where the clip, its author and its licence are shown")
    author: str = ""
    thumbnail_url: str = ""
    preview_url: str = Field("", description="a small rendition to play")
    download_url: str = ""  # what the render downloads (a stock site's rendition)


def clip_key(clip: StoryClip) -> str:
    """What scenes and edits name a clip by: `<source>:<id>` (`Pexels:855386`)."""
    return f"{clip.source}:{clip.id}"


class StoryScene(_Wire):
    text: str
    term: str = Field("", description="what the footage was searched for")
    start_s: float | None = Field(None, description="in the voice; null until it is spoken again")
    end_s: float | None = None
    clip: str | None = Field(description="a key of `clips`; null: a generated background")
    candidates: list[str] = Field(default_factory=list, description="keys of `clips`, best first")
    paragraph_end: bool = Field(False, description="a paragraph ends here: a longer pause follows")


class Storyboard(_Wire):
    version: Literal[1] = 1
    scenes: list[StoryScene]
    clips: dict[str, StoryClip] = Field(default_factory=dict)
    approved: bool = Field(False, description="the render was asked for: no more edits")
    revision: int = Field(
        0, description="how many edits it has had (clips found or uploaded since do not count)"
    )

    def scene_alone(self, index: int) -> Storyboard:
        """Scene `index` as a storyboard of its own, approved: what its preview renders."""
        scene = self.scenes[index].model_copy(update={"paragraph_end": False})
        clips = {scene.clip: self.clips[scene.clip]} if scene.clip else {}
        return Storyboard(scenes=[scene], clips=clips, approved=True)

    def script(self) -> str:
        """The narration: the scenes' texts in order, a blank line where a paragraph ends."""
        return "".join(
            scene.text + ("\n\n" if scene.paragraph_end else " ") for scene in self.scenes
        ).strip()


class SceneEdit(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    text: str | None = Field(None, description="the scene's narration; omitted: unchanged")
    clip: str | None = Field(
        None,
        description="a key of the storyboard's `clips`, or null for a generated background; "
        "omitted: the clip the scene at this position had",
    )


class StoryboardEdit(_Wire):
    """`PATCH /api/jobs/{id}/storyboard`: the whole list of scenes in its new order (a scene
    given as just its text keeps the clip of the scene that was at its position), and any of
    the voice, music and subtitle settings."""

    model_config = ConfigDict(extra="forbid")

    version: str | None = Field(
        None, description="the storyboard's `version` this edit was made on; a newer one: 409"
    )
    scenes: list[SceneEdit] | None = Field(None, min_length=1, max_length=MAX_SCENES)
    voice: str | None = None
    song: str | None = None
    use_music: bool | None = None
    music_volume: float | None = None
    color: str | None = None
    subtitles_position: str | None = None
    font_size: int | None = None
    word_highlight: bool | None = None


class EditError(ValueError):
    """An edit that cannot be made; `field` names where (`scenes[2].clip`)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


def apply_edit(
    storyboard: Storyboard, spec: dict[str, Any], edit: StoryboardEdit, *, max_words: int
) -> tuple[Storyboard, dict[str, Any]]:
    """The storyboard and the job's spec (its payload) after `edit`; EditError names the first
    scene and field at fault. A scene whose text or place changed, and every scene after it,
    loses its times: they are known again once the voice is spoken."""
    scenes = storyboard.scenes
    if edit.scenes is not None:
        scenes = [
            _edited_scene(storyboard, number, change) for number, change in enumerate(edit.scenes)
        ]
        words = sum(count_words(scene.text) for scene in scenes)
        if words > max_words:
            raise EditError(
                "scenes", f"{words} words in all; the limit is {max_words} "
                "(MONEYPRINTER_MAX_SCRIPT_WORDS)",
            )  # fmt: skip
        scenes = _retimed(storyboard.scenes, scenes)
    changes = edit.model_dump(include=set(SPEC_FIELDS), exclude_unset=True, by_alias=True)
    try:
        merged = VideoSpec.model_validate({**spec, **changes})
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"]) or "body"
        raise EditError(where, str(error["msg"])) from None
    new_spec = {**spec, **merged.model_dump(include=set(SPEC_FIELDS), by_alias=True)}
    edited = storyboard.model_copy(update={"scenes": scenes, "revision": storyboard.revision + 1})
    return edited, new_spec


def _edited_scene(storyboard: Storyboard, number: int, change: SceneEdit) -> StoryScene:
    where = f"scenes[{number}]"
    before = storyboard.scenes[number] if number < len(storyboard.scenes) else None
    text = change.text if change.text is not None else (before.text if before else None)
    if text is None:
        raise EditError(f"{where}.text", "a scene added at the end needs its text")
    if not count_words(text):
        raise EditError(f"{where}.text", "must hold at least one word")
    # Only a text that changed: the planner's own may be longer (one long sentence).
    if text != (before.text if before else None) and (
        len(text) > MAX_SCENE_CHARS or "\x00" in text
    ):
        raise EditError(f"{where}.text", f"at most {MAX_SCENE_CHARS} characters, no NUL")
    if "clip" in change.model_fields_set:
        clip = change.clip
        if clip is not None and clip not in storyboard.clips:
            raise EditError(
                f"{where}.clip", f"{clip!r} is not one of this storyboard's clips (`clips`)"
            )
    elif before is not None:
        clip = before.clip
    else:
        raise EditError(
            f"{where}.clip", "a scene added at the end needs a clip (a key of `clips`, or null "
            "for a generated background)",
        )  # fmt: skip
    # The candidates go with the clip: those of the scene it was chosen for, else this place's.
    owner = next((scene for scene in storyboard.scenes if clip and scene.clip == clip), before)
    return StoryScene(
        text=text, term=owner.term if owner else "", clip=clip,
        candidates=list(owner.candidates) if owner else [],
        paragraph_end=before.paragraph_end if before else False,
    )  # fmt: skip


def _retimed(before: list[StoryScene], after: list[StoryScene]) -> list[StoryScene]:
    """`after` with the times of `before` while the narration is the same from the start."""
    same = 0
    while same < min(len(before), len(after)) and before[same].text == after[same].text:
        same += 1
    return [
        scene.model_copy(update={"start_s": before[number].start_s, "end_s": before[number].end_s})
        if number < same
        else scene
        for number, scene in enumerate(after)
    ]
