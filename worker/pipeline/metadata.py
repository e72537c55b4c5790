"""Metadata of the finished video: title, description and tags (LLM or offline), the JSON file,
and a thumbnail with the title drawn on a frame."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import textwrap
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFont

from app.media import forced_input
from worker.errors import PipelineError
from worker.pipeline.script import language_name, split_sentences
from worker.pipeline.terms import keywords
from worker.providers.llm import LLM, parse_json_reply

STAGE = "metadata"
MAX_TITLE_CHARS = 100
MAX_DESCRIPTION_CHARS = 1000
MIN_TAGS, MAX_TAGS = 5, 15
MAX_TAG_CHARS = 30
GENERIC_TAGS = ("shorts", "video", "facts", "explained", "learn")
DEJAVU_BOLD = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf")
FFMPEG_TIMEOUT_S = 60.0
JPEG_QUALITY = 90
TEXT_WIDTH_SHARE = 0.86  # of the frame, so the outline never touches the edge
MAX_TITLE_LINES = 4
MIN_FONT_PX = 12

log = logging.getLogger(__name__)

Font = ImageFont.FreeTypeFont | ImageFont.ImageFont


@dataclass
class Metadata:
    title: str
    description: str
    tags: list[str]


def describe(script: str, *, subject: str, language: str, llm: LLM | None) -> Metadata:
    """The LLM's title, description and tags, each checked and completed offline; without an
    LLM, or when it fails, all derived from the subject and script. Never raises."""
    offline = offline_metadata(script, subject=subject)
    if llm is None:
        return offline
    try:
        answer = llm.chat(
            metadata_messages(script, subject=subject, language=language), json_mode=True
        )
    except PipelineError as exc:
        log.warning("Metadata from the script: %s", exc.message)
        return offline
    value = parse_json_reply(answer)
    fields: dict[str, Any] = value if isinstance(value, dict) else {}
    raw_tags = fields.get("tags")
    if isinstance(raw_tags, str):
        raw_tags = raw_tags.replace("#", ",").split(",")
    tags = clean_tags(raw_tags if isinstance(raw_tags, list) else [])
    return Metadata(
        title=clean_title(_text(fields.get("title"))) or offline.title,
        description=_shorten(_text(fields.get("description")), MAX_DESCRIPTION_CHARS)
        or offline.description,
        tags=clean_tags([*tags, *offline.tags]) if len(tags) < MIN_TAGS else tags,
    )


def metadata_messages(script: str, *, subject: str, language: str) -> list[dict[str, str]]:
    prompt = (
        f"Write the metadata of a short video about {subject!r} for YouTube, in "
        f"{language_name(language)}. Its narration:\n{script}\n\n"
        'Answer with JSON only: {"title": "...", "description": "...", "tags": ["...", ...]} '
        f"— a catchy title under {MAX_TITLE_CHARS} characters, a description of 2 or 3 "
        f"sentences, and {MIN_TAGS} to {MAX_TAGS} tags without '#'."
    )
    return [{"role": "user", "content": prompt}]


def offline_metadata(script: str, *, subject: str) -> Metadata:
    """Title from the subject, description from the script's first sentences, tags from its
    keywords."""
    title = clean_title(subject) or "Untitled"
    description = ""
    for sentence in split_sentences(script):
        if len(description) + len(sentence) > MAX_DESCRIPTION_CHARS // 3 and description:
            break
        description = f"{description} {sentence}".strip()
    tags = clean_tags([subject, *keywords(subject), *keywords(script)[:MAX_TAGS], *GENERIC_TAGS])
    return Metadata(title=title, description=description or title, tags=tags)


def clean_title(text: str) -> str:
    title = " ".join(text.replace("#", " ").split()).strip("\"'“”«» ")
    title = title[:1].upper() + title[1:]
    return _shorten(title, MAX_TITLE_CHARS)


def clean_tags(items: list[Any]) -> list[str]:
    """Up to MAX_TAGS tags: text without '#', short, no two alike."""
    tags: list[str] = []
    for item in items:
        tag = " ".join(_text(item).replace("#", " ").split()).strip(" .,;:\"'")
        if tag and len(tag) <= MAX_TAG_CHARS and tag.lower() not in {t.lower() for t in tags}:
            tags.append(tag)
    return tags[:MAX_TAGS]


def _text(value: object) -> str:
    return value.strip() if isinstance(value, str) else ""


def _shorten(text: str, limit: int) -> str:
    """At most `limit` characters, cut at a word with an ellipsis."""
    if len(text) <= limit:
        return text
    return textwrap.shorten(text, width=limit, placeholder="…")


def write_metadata(path: Path, metadata: Metadata, *, extra: dict[str, Any]) -> None:
    """metadata.json: the metadata and `extra` (ids, duration…), written whole or not at all."""
    partial = path.with_name(path.name + ".part")
    body = {**asdict(metadata), **extra}
    partial.write_text(json.dumps(body, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    os.replace(partial, path)


def make_thumbnail(
    video: Path, out: Path, *, title: str, at_s: float, ffmpeg_exe: str, font_path: Path | None
) -> Path:
    """A JPEG of the frame at `at_s` (the first frame if the video is shorter) with the title
    drawn on it, wrapped and outlined inside the frame."""
    frame_path = out.with_name(out.stem + ".frame.png")
    try:
        for seek_s in (max(at_s, 0.0), 0.0):
            _grab_frame(video, frame_path, at_s=seek_s, ffmpeg_exe=ffmpeg_exe)
            if frame_path.exists() and frame_path.stat().st_size:
                break
        else:
            raise PipelineError(
                f"ffmpeg found no frame in {video.name}", retryable=False, stage=STAGE
            )
        with Image.open(frame_path) as frame:
            image = frame.convert("RGB")
    finally:
        frame_path.unlink(missing_ok=True)
    if title.strip():
        draw_title(image, title, font_path=font_path)
    partial = out.with_name(out.name + ".part")
    image.save(partial, format="JPEG", quality=JPEG_QUALITY)
    os.replace(partial, out)
    return out


def _grab_frame(video: Path, frame_path: Path, *, at_s: float, ffmpeg_exe: str) -> None:
    # -ss before -i seeks by keyframe index then decodes to the exact time: fast and exact.
    command = [
        ffmpeg_exe, "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
        "-ss", f"{at_s:.3f}", *forced_input("mov", video), "-frames:v", "1", "-update", "1",
        str(frame_path),
    ]  # fmt: skip
    try:
        result = subprocess.run(command, capture_output=True, timeout=FFMPEG_TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise PipelineError(
            f"ffmpeg could not read a frame: {exc}", retryable=False, stage=STAGE
        ) from exc
    if result.returncode != 0:
        detail = result.stderr.decode(errors="replace").strip()[-300:]
        raise PipelineError(
            f"ffmpeg could not read a frame of {video.name}: {detail}", retryable=False, stage=STAGE
        )


def draw_title(image: Image.Image, title: str, *, font_path: Path | None) -> None:
    """The title in white with a black outline on a darkened band, centred, shrunk until it
    fits in MAX_TITLE_LINES lines inside the frame."""
    width_px, height_px = image.size
    font, size_px, lines = _fitted(title, width_px=width_px, font_path=font_path)
    stroke_px = max(2, size_px // 12)
    line_px = int(size_px * 1.2)
    block_px = line_px * len(lines)
    top_px = (height_px - block_px) // 2
    band = Image.new("RGBA", image.size, (0, 0, 0, 0))
    ImageDraw.Draw(band).rectangle(
        (0, top_px - line_px // 2, width_px, top_px + block_px + line_px // 2), fill=(0, 0, 0, 110)
    )
    image.paste(Image.alpha_composite(image.convert("RGBA"), band).convert("RGB"))
    draw = ImageDraw.Draw(image)
    for index, line in enumerate(lines):
        draw.text(
            (width_px / 2, top_px + index * line_px + line_px / 2), line, font=font, anchor="mm",
            fill="white", stroke_width=stroke_px, stroke_fill="black",
        )  # fmt: skip


def _fitted(title: str, *, width_px: int, font_path: Path | None) -> tuple[Font, int, list[str]]:
    """The largest font (from a ninth of the width down) at which the title wraps into
    MAX_TITLE_LINES lines without breaking a word; at the smallest size, lines are cut."""
    smallest_px = max(MIN_FONT_PX, width_px // 30)
    size_px = max(smallest_px, width_px // 9)
    while True:
        font = load_font(font_path, size_px)
        lines = _wrap(title, font, max_width_px=width_px * TEXT_WIDTH_SHARE)
        words_whole = " ".join(lines).split() == title.split()
        if (words_whole and len(lines) <= MAX_TITLE_LINES) or size_px <= smallest_px:
            break
        size_px = max(smallest_px, int(size_px * 0.85))
    if len(lines) > MAX_TITLE_LINES:
        lines = [*lines[: MAX_TITLE_LINES - 1], lines[MAX_TITLE_LINES - 1][:-1] + "…"]
    return font, size_px, lines


def load_font(font_path: Path | None, size_px: int) -> Font:
    """The given font, else DejaVu Sans Bold, else Pillow's own (legible, if plain)."""
    for candidate in (font_path, DEJAVU_BOLD):
        if candidate is not None and candidate.is_file():
            try:
                return ImageFont.truetype(str(candidate), size_px)
            except OSError:
                log.warning("Cannot read the font %s", candidate)
    return ImageFont.load_default(size_px)


def _wrap(text: str, font: Font, *, max_width_px: float) -> list[str]:
    """Words on lines no wider than `max_width_px`; a word too wide on its own is broken."""
    lines: list[str] = []
    for word in text.split():
        if lines and font.getlength(f"{lines[-1]} {word}") <= max_width_px:
            lines[-1] = f"{lines[-1]} {word}"
            continue
        lines.append("")
        for char in word:
            if lines[-1] and font.getlength(lines[-1] + char) > max_width_px:
                lines.append("")
            lines[-1] += char
    return lines
