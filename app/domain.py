"""Plain types shared by the API and the worker: job states, events, the validated video spec."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from enum import StrEnum
from typing import Literal

from PIL import ImageColor
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from app.voices import ORIGINAL_VOICES


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    AWAITING_REVIEW = "awaiting_review"  # planned; waits for POST /api/jobs/{id}/render
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STATUSES

    @property
    def is_settled(self) -> bool:
        """No worker will change it: it has ended, or it waits for a person (review). A stream
        of its events ends here."""
        return self in TERMINAL_STATUSES or self is JobStatus.AWAITING_REVIEW


TERMINAL_STATUSES = frozenset({JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED})

# The job kind that uploads a finished video to YouTube (worker/publish.py).
PUBLISH_KIND = "publish"
# The job kind that renders one scene of a storyboard as a quick draft, for its reviewer (a
# child-process pipeline, as `video`, that stops at the render; not listed by GET /api/jobs).
PREVIEW_KIND = "preview"


class EventType(StrEnum):
    LOG = "log"
    STAGE = "stage"
    PROGRESS = "progress"
    STATE = "state"
    RETRY = "retry"
    ARTIFACT = "artifact"


class EventLevel(StrEnum):
    DEBUG = "debug"
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


HORIZONTAL_POSITIONS = ("left", "center", "right")
VERTICAL_POSITIONS = ("top", "center", "bottom")
SONG_NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{0,120}\.mp3$")
LANGUAGE_PATTERN = r"^[a-z]{2,3}([-_][A-Za-z0-9]{2,8})?$"
# What the original page lets a user type (its number inputs go to 100); an LLM-written script is
# then held to the word cap, with a warning, and the encoder's threads to the worker's cores.
MAX_PARAGRAPHS = 100
MAX_THREADS = 100
# The narration's pace: how many words a second of voice holds (scripts are sized by it).
WORDS_PER_S = 2.5
# A bound on the request's size only: the word cap (MONEYPRINTER_MAX_SCRIPT_WORDS) is the limit.
MAX_SCRIPT_CHARS = 100_000
_WORD = re.compile(r"\w+(?:['’-]\w+)*")

Aspect = Literal["9:16", "16:9", "1:1"]
Quality = Literal["draft", "standard", "high"]
FULL_SIZE_PX: dict[str, tuple[int, int]] = {
    "9:16": (1080, 1920),
    "16:9": (1920, 1080),
    "1:1": (1080, 1080),
}


def frame_size_px(aspect: Aspect, quality: Quality) -> tuple[int, int]:
    """A video's frame: full HD on the long side; draft renders at half size."""
    width_px, height_px = FULL_SIZE_PX[aspect]
    if quality == "draft":
        return width_px // 2, height_px // 2
    return width_px, height_px


FootageSource = Literal["auto", "pexels", "pixabay", "local", "generated"]


class PublishOptions(BaseModel):
    """How a video goes to YouTube. The defaults are the original MoneyPrinter's (private,
    category 28, not made for kids), plus the altered-or-synthetic disclosure: the voice and the
    script are generated. Title, description and tags: the video's metadata unless given."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", str_strip_whitespace=True
    )

    account_id: int | None = Field(
        None, ge=1, description="a connected account (GET /api/accounts); none: the only one"
    )
    privacy: Literal["private", "unlisted", "public"] = "private"
    publish_at: datetime | None = Field(
        None, description="YouTube makes the private video public then (ISO 8601, in the future)"
    )
    category_id: str = Field("28", pattern=r"^[0-9]{1,3}$", description="28: Science & Technology")
    made_for_kids: bool = False
    synthetic_media: bool = Field(True, description="YouTube's altered or synthetic content flag")
    title: str | None = Field(None, min_length=1, max_length=100)
    description: str | None = Field(None, max_length=5000)
    tags: list[str] | None = Field(None, max_length=100)
    playlist_id: str | None = Field(
        None, pattern=r"^[A-Za-z0-9_-]{2,64}$", description="add the video to this playlist"
    )
    publish_anyway: bool = Field(
        False,
        description="publish after the render even when a check of the video failed (the `qa` "
        "artifact); otherwise such a video waits for POST /api/jobs/{id}/publish",
    )

    @field_validator("title", "description")
    @classmethod
    def _no_angle_brackets(cls, value: str | None) -> str | None:
        if value is not None and ("<" in value or ">" in value):
            raise ValueError("YouTube refuses < and > here")
        if value is not None and len(value.encode()) > 5000:
            raise ValueError("at most 5000 bytes of UTF-8")
        return value

    @field_validator("tags")
    @classmethod
    def _check_tags(cls, tags: list[str] | None) -> list[str] | None:
        if tags is None:
            return None
        if youtube_tags_length(tags) > MAX_TAGS_CHARS:
            raise ValueError(f"at most {MAX_TAGS_CHARS} characters in all, as YouTube counts them")
        return tags

    @model_validator(mode="after")
    def _schedule_only_private(self) -> PublishOptions:
        if self.publish_at is None:
            return self
        if self.privacy != "private":
            raise ValueError("publishAt: only a private video can be scheduled (privacy: private)")
        if self.publish_at.tzinfo is None:
            raise ValueError("publishAt: give a time zone (e.g. 2027-01-01T09:00:00Z)")
        return self

    def schedule_problem(self) -> str | None:
        """Why `publishAt` cannot be asked for now. Checked where a request arrives, not in the
        model: a stored request is validated again later, when its time may have come."""
        if self.publish_at is not None and self.publish_at <= datetime.now(UTC):
            return "publishAt: must be in the future"
        return None


MAX_TAGS_CHARS = 500


def youtube_tags_length(tags: list[str]) -> int:
    """Tags' length as YouTube counts it: commas between them, quotes around one with a space."""
    return sum(len(tag) + (2 if " " in tag else 0) for tag in tags) + max(len(tags) - 1, 0)


class VideoSpec(BaseModel):
    """What to make: the validated generate request, without the queue's options.

    Field names are snake_case in Python and camelCase on the wire (the original's names). Numbers
    and booleans sent as strings are accepted, as the original web page sends them so. Every
    optional field has a default that works, so a spec that validates can always be rendered.
    """

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="ignore", str_strip_whitespace=True
    )

    video_subject: str = Field(min_length=1, max_length=500, examples=["Why octopuses are smart"])
    ai_model: str | None = Field(None, max_length=200, description="LLM model; server default")
    voice: str | None = Field(
        None,
        max_length=100,
        pattern=r"^[A-Za-z0-9_.:+-]*$",
        description="a voice id (GET /api/voices) or one of the original page's voice ids; "
        "empty: the default voice, with a warning",
    )
    paragraph_number: int = Field(
        1, ge=1, le=MAX_PARAGRAPHS, description="of an LLM-written script; the script cap applies"
    )
    custom_prompt: str = Field("", max_length=4000)
    subtitles_position: str = Field("center,bottom", examples=["center,bottom"])
    color: str = Field("#FFFF00", description="subtitle colour: #RGB, #RRGGBB or a CSS name")
    use_music: bool = False
    automate_youtube_upload: bool = Field(
        False, description="publish to YouTube after the render, with `publish` or its defaults"
    )
    publish: PublishOptions | None = Field(
        None, description="publish to YouTube after the render, so (implies the above)"
    )
    threads: int = Field(
        2, ge=1, le=MAX_THREADS, description="encoder threads; a hint, capped at the worker's cores"
    )
    script: str | None = Field(
        None, max_length=MAX_SCRIPT_CHARS, description="narrate this text; no LLM needed"
    )
    language: str = Field("en", pattern=LANGUAGE_PATTERN)
    target_seconds: int | None = Field(None, ge=10, le=600)
    aspect: Aspect = "9:16"
    quality: Quality = "standard"
    footage_source: FootageSource = "auto"
    clip_duration: float = Field(5.0, ge=1.0, le=60.0)
    song: str | None = Field(None, description="name of an uploaded song; random when music is on")
    music_volume: float = Field(0.1, ge=0.0, le=1.0)
    font_size: int = Field(80, ge=20, le=200)
    word_highlight: bool = False
    review: bool = Field(
        False,
        description="stop before the render, in `awaiting_review`, with a storyboard to look "
        "over and edit (GET/PATCH /api/jobs/{id}/storyboard); POST /api/jobs/{id}/render goes on",
    )

    @field_validator("*", mode="after")
    @classmethod
    def _refuse_nul(cls, value: object) -> object:
        # Postgres cannot store NUL in text or JSONB; refuse it here rather than fail at insert.
        if isinstance(value, str) and "\x00" in value:
            raise ValueError("must not contain NUL characters")
        return value

    @field_validator("paragraph_number", "threads", mode="before")
    @classmethod
    def _blank_is_default(cls, value: object, info: ValidationInfo) -> object:
        # The original page sends its number inputs as text, "" when the box was cleared.
        if isinstance(value, str) and not value.strip():
            return cls.model_fields[info.field_name or ""].default
        return value

    @model_validator(mode="after")
    def _language_of_an_original_voice(self) -> VideoSpec:
        # The original wrote the script in its voice's language; a request that names one of its
        # voices and no language gets that language.
        original = ORIGINAL_VOICES.get(self.voice or "")
        if original is not None and "language" not in self.model_fields_set:
            self.language = original.language
        return self

    @field_validator("subtitles_position")
    @classmethod
    def _check_position(cls, value: str) -> str:
        parts = [part.strip().lower() for part in value.split(",")]
        if (
            len(parts) != 2
            or parts[0] not in HORIZONTAL_POSITIONS
            or parts[1] not in VERTICAL_POSITIONS
        ):
            raise ValueError(
                f"must be 'horizontal,vertical' with horizontal one of {HORIZONTAL_POSITIONS} "
                f"and vertical one of {VERTICAL_POSITIONS}"
            )
        return ",".join(parts)

    @field_validator("color")
    @classmethod
    def _check_color(cls, value: str) -> str:
        return normalise_color(value)

    @field_validator("script", "ai_model")
    @classmethod
    def _blank_is_none(cls, value: str | None) -> str | None:
        return value or None

    @field_validator("song")
    @classmethod
    def _check_song_name(cls, value: str | None) -> str | None:
        if not value:
            return None
        if not SONG_NAME_PATTERN.fullmatch(value):
            raise ValueError("must be the name of an uploaded song, such as 'my-song.mp3'")
        return value


def normalise_color(value: str) -> str:
    """`#rgb`, `#rrggbb` or a CSS colour name → `#RRGGBB`; anything else is refused."""
    text = value.strip().lower()
    if re.fullmatch(r"#[0-9a-f]{3}", text):
        text = "#" + "".join(ch * 2 for ch in text[1:])
    if re.fullmatch(r"#[0-9a-f]{6}", text):
        return text.upper()
    if text.isalpha() and text in ImageColor.colormap:
        # getrgb, not the map itself: Pillow caches a parsed name in the map as a tuple.
        red, green, blue = ImageColor.getrgb(text)[:3]
        return f"#{red:02X}{green:02X}{blue:02X}"
    raise ValueError("must be a colour as #RGB, #RRGGBB or a CSS colour name")


def count_words(text: str) -> int:
    """Words as the narration is measured: runs of letters and digits, with inner apostrophes
    and hyphens ("don't", "well-known")."""
    return len(_WORD.findall(text))


def script_too_long(script: str, *, max_words: int) -> str | None:
    """Why `script` is longer than the word cap allows, or None when it is not."""
    words = count_words(script)
    if words <= max_words:
        return None
    minutes = max_words / WORDS_PER_S / 60
    return (
        f"script: {words:,} words; the most is {max_words:,} (about {minutes:.0f} minutes of "
        "narration, MONEYPRINTER_MAX_SCRIPT_WORDS)."
    )
