"""The subtitles stage: sentence spans → short cues → an ASS file that libass burns in."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from worker.pipeline.voice import TimedText

STAGE = "subtitles"
REFERENCE_SIZE_PX = 1080  # `fontSize` is meant for a 1080-pixel-wide (or high) frame
ALIGNMENT = {  # ASS numpad alignment by (horizontal, vertical)
    ("left", "bottom"): 1, ("center", "bottom"): 2, ("right", "bottom"): 3,
    ("left", "center"): 4, ("center", "center"): 5, ("right", "center"): 6,
    ("left", "top"): 7, ("center", "top"): 8, ("right", "top"): 9,
}  # fmt: skip


@dataclass(frozen=True)
class Cue:
    start_s: float
    end_s: float
    text: str


@dataclass(frozen=True)
class SubtitleStyle:
    width_px: int
    height_px: int
    font_name: str
    font_size_px: int
    color: str  # "#RRGGBB"
    position: str  # "horizontal,vertical"


def split_cues(sentences: list[TimedText], *, max_words: int) -> list[Cue]:
    """One cue per sentence, long sentences cut into chunks timed by their share of characters."""
    cues: list[Cue] = []
    for sentence in sentences:
        words = sentence.text.split()
        # Even chunks (7 words at most 6 → 4 + 3, not 6 + 1).
        size = math.ceil(len(words) / math.ceil(len(words) / max_words)) if words else 1
        chunks = [" ".join(words[i : i + size]) for i in range(0, len(words), size)]
        total_chars = sum(len(chunk) for chunk in chunks) or 1
        start_s = sentence.start_s
        span_s = sentence.end_s - sentence.start_s
        for chunk in chunks:
            end_s = start_s + span_s * len(chunk) / total_chars
            cues.append(Cue(start_s, end_s, chunk))
            start_s = end_s
    return cues


def scaled_font_size_px(font_size: int, *, width_px: int, height_px: int) -> int:
    return max(8, round(font_size * min(width_px, height_px) / REFERENCE_SIZE_PX))


def write_ass(cues: list[Cue], path: Path, *, style: SubtitleStyle) -> None:
    """An ASS file whose PlayRes is the frame, so sizes and margins are in output pixels."""
    horizontal, vertical = style.position.split(",")
    outline_px = max(2, round(style.font_size_px * 0.07))
    margin_h_px = round(style.width_px * 0.07)
    margin_v_px = round(style.height_px * 0.08)
    header = [
        "[Script Info]",
        "ScriptType: v4.00+",
        f"PlayResX: {style.width_px}",
        f"PlayResY: {style.height_px}",
        "WrapStyle: 0",
        "ScaledBorderAndShadow: yes",
        "",
        "[V4+ Styles]",
        "Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, "
        "BackColour, Bold, Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, "
        "BorderStyle, Outline, Shadow, Alignment, MarginL, MarginR, MarginV, Encoding",
        f"Style: Default,{style.font_name},{style.font_size_px},{ass_color(style.color)},"
        f"&H000000FF,&H00000000,&H80000000,-1,0,0,0,100,100,0,0,1,{outline_px},0,"
        f"{ALIGNMENT[(horizontal, vertical)]},{margin_h_px},{margin_h_px},{margin_v_px},1",
        "",
        "[Events]",
        "Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text",
    ]
    lines = [
        f"Dialogue: 0,{ass_time(cue.start_s)},{ass_time(cue.end_s)},Default,,0,0,0,,"
        f"{ass_text(cue.text)}"
        for cue in cues
    ]
    path.write_text("\n".join([*header, *lines]) + "\n", encoding="utf-8")


def ass_color(hex_rgb: str) -> str:
    """`#RRGGBB` → ASS `&H00BBGGRR` (alpha first, then blue, green, red)."""
    red, green, blue = hex_rgb[1:3], hex_rgb[3:5], hex_rgb[5:7]
    return f"&H00{blue}{green}{red}".upper()


def ass_time(seconds: float) -> str:
    centiseconds = max(0, round(seconds * 100))
    hours, rest = divmod(centiseconds, 360_000)
    minutes, rest = divmod(rest, 6_000)
    whole, cents = divmod(rest, 100)
    return f"{hours}:{minutes:02d}:{whole:02d}.{cents:02d}"


def ass_text(text: str) -> str:
    # Braces open override blocks and a backslash starts an escape (\N, \h) in ASS; spoken text
    # needs neither, so they are replaced by look-alikes.
    return text.replace("\\", "/").replace("{", "(").replace("}", ")").replace("\n", " ")
