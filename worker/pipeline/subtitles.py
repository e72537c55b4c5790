"""The subtitles stage: voice timings → short cues laid out inside the frame → ASS and SRT files."""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from PIL import ImageFont

from worker.pipeline.voice import TimedText, TimedWord, apportion_words

STAGE = "subtitles"
REFERENCE_SIZE_PX = 1080  # `fontSize` is meant for a 1080-pixel-wide (or high) frame
ALIGNMENT = {  # ASS numpad alignment by (horizontal, vertical)
    ("left", "bottom"): 1, ("center", "bottom"): 2, ("right", "bottom"): 3,
    ("left", "center"): 4, ("center", "center"): 5, ("right", "center"): 6,
    ("left", "top"): 7, ("center", "top"): 8, ("right", "top"): 9,
}  # fmt: skip
MAX_CUE_WORDS = {"9:16": 6, "1:1": 7, "16:9": 10}
MAX_LINES = 2
MAX_LINE_CHARS = 42  # beyond this a line is hard to read at a glance, however wide the frame
SAFE_MARGIN_X = 0.07  # of the frame width, each side
SAFE_MARGIN_Y = 0.08  # of the frame height
OUTLINE_RATIO = 0.07  # of the font size
BRIDGE_GAP_S = 0.8  # a cue stays up through a shorter pause, so the text does not flicker
LINGER_S = 0.4  # after the last word before a longer pause
# Widths are measured with the font libass draws (bold); libass sizes a font by its line height,
# which is 1.164 em for DejaVu, so Pillow gets `size / line_height_em`.
FONT_FILE = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf")
FALLBACK_CHAR_WIDTH = 0.7  # of the ASS font size: wider than DejaVu Bold's capitals (≈0.65)
WIDTH_SAFETY = 1.05
HIGHLIGHT_BASE_COLOR = "#FFFFFF"  # words not being spoken, when the spoken one is highlighted
HIGHLIGHT_FALLBACK_COLOR = "#FFFF00"  # the spoken word, when the chosen colour is white already


@dataclass(frozen=True)
class Cue:
    start_s: float
    end_s: float
    text: str
    words: list[TimedWord] = field(default_factory=list)


@dataclass(frozen=True)
class SubtitleStyle:
    width_px: int
    height_px: int
    font_name: str
    font_size_px: int
    color: str  # "#RRGGBB"
    position: str  # "horizontal,vertical"
    word_highlight: bool = False

    @property
    def outline_px(self) -> int:
        return max(2, round(self.font_size_px * OUTLINE_RATIO))

    @property
    def margin_x_px(self) -> int:
        # At least 3× the outline: an outline closer to the edge than that gets clipped.
        return max(round(self.width_px * SAFE_MARGIN_X), 3 * self.outline_px)

    @property
    def margin_y_px(self) -> int:
        return max(round(self.height_px * SAFE_MARGIN_Y), 3 * self.outline_px)

    @property
    def max_line_width_px(self) -> int:
        return self.width_px - 2 * self.margin_x_px - 2 * self.outline_px

    @property
    def alignment(self) -> int:
        horizontal, vertical = self.position.split(",")
        return ALIGNMENT[(horizontal, vertical)]


def scaled_font_size_px(font_size: int, *, width_px: int, height_px: int) -> int:
    return max(8, round(font_size * min(width_px, height_px) / REFERENCE_SIZE_PX))


@functools.cache
def _font(size_px: int) -> ImageFont.FreeTypeFont | None:
    if not FONT_FILE.is_file():
        return None
    probe = ImageFont.truetype(str(FONT_FILE), 100)
    ascent, descent = probe.getmetrics()
    return ImageFont.truetype(str(FONT_FILE), max(1, round(size_px * 100 / (ascent + descent))))


def text_width_px(text: str, *, font_size_px: int) -> float:
    """How wide libass draws `text` at ASS size `font_size_px` (a little over, never under)."""
    font = _font(font_size_px)
    if font is None:
        return len(text) * font_size_px * FALLBACK_CHAR_WIDTH
    return font.getlength(text) * WIDTH_SAFETY


def _fits(text: str, style: SubtitleStyle | None) -> bool:
    if len(text) > MAX_LINE_CHARS:
        return False
    return style is None or (
        text_width_px(text, font_size_px=style.font_size_px) <= style.max_line_width_px
    )


Token = tuple[str, int]  # a piece of text on a line and the index of the word it belongs to


def layout_lines(words: Sequence[str], *, style: SubtitleStyle | None) -> list[list[Token]]:
    """Lines of a cue: one if it fits, else two of balanced width, else as many as needed. A word
    wider than a line is broken with a hyphen, so no line leaves the frame."""
    tokens = [piece for index, word in enumerate(words) for piece in _pieces(word, index, style)]
    if _fits(_joined(tokens), style):
        return [tokens]
    two = [
        [tokens[:cut], tokens[cut:]]
        for cut in range(1, len(tokens))
        if _fits(_joined(tokens[:cut]), style) and _fits(_joined(tokens[cut:]), style)
    ]
    if two:
        return min(two, key=lambda lines: max(_line_size(line, style) for line in lines))
    return _greedy(tokens, style)


def _joined(tokens: Sequence[Token]) -> str:
    return " ".join(text for text, _ in tokens)


def _line_size(tokens: Sequence[Token], style: SubtitleStyle | None) -> float:
    text = _joined(tokens)
    return len(text) if style is None else text_width_px(text, font_size_px=style.font_size_px)


def _greedy(tokens: list[Token], style: SubtitleStyle | None) -> list[list[Token]]:
    lines: list[list[Token]] = [[]]
    for token in tokens:
        if lines[-1] and not _fits(_joined([*lines[-1], token]), style):
            lines.append([])
        lines[-1].append(token)
    return lines


def _pieces(word: str, index: int, style: SubtitleStyle | None) -> list[Token]:
    pieces: list[Token] = []
    rest = word
    while not _fits(rest, style) and len(rest) > 1:
        fitting = (n for n in range(len(rest) - 1, 1, -1) if _fits(rest[:n] + "-", style))
        cut = next(fitting, 1)
        pieces.append((rest[:cut] + "-", index))
        rest = rest[cut:]
    return [*pieces, (rest, index)]


def split_cues(
    sentences: list[TimedText],
    *,
    max_words: int,
    style: SubtitleStyle | None = None,
    duration_s: float | None = None,
) -> list[Cue]:
    """Each sentence cut into even chunks of at most `max_words` that fit in two lines (of the
    frame when `style` is given), timed by their words; cues are then made contiguous across
    short pauses and kept inside [0, duration_s]."""
    cues: list[Cue] = []
    for sentence in sentences:
        words = sentence.words or apportion_words(sentence.text, sentence.start_s, sentence.end_s)
        for chunk in _chunks(words, max_words=max_words, style=style):
            text = " ".join(word.text for word in chunk)
            cues.append(Cue(chunk[0].start_s, chunk[-1].end_s, text, chunk))
    return _settle(sorted(cues, key=lambda cue: cue.start_s), duration_s=duration_s)


def _chunks(
    words: list[TimedWord], *, max_words: int, style: SubtitleStyle | None
) -> list[list[TimedWord]]:
    """A word wider than a line is a cue of its own; the runs between such words are cut into
    even chunks (7 words at most 6 → 4 + 3, not 6 + 1), halved again where one does not fit."""
    runs: list[list[TimedWord]] = [[]]
    for word in words:
        if _fits(word.text, style):
            runs[-1].append(word)
        else:
            runs += [[word], []]
    chunks: list[list[TimedWord]] = []
    for run in filter(None, runs):
        size = math.ceil(len(run) / math.ceil(len(run) / max_words))
        chunks += [run[i : i + size] for i in range(0, len(run), size)]
    return [piece for chunk in chunks for piece in _fitted(chunk, style)]


def _fitted(chunk: list[TimedWord], style: SubtitleStyle | None) -> list[list[TimedWord]]:
    if len(chunk) == 1 or len(layout_lines([w.text for w in chunk], style=style)) <= MAX_LINES:
        return [chunk]
    half = math.ceil(len(chunk) / 2)
    return [*_fitted(chunk[:half], style), *_fitted(chunk[half:], style)]


def _settle(cues: list[Cue], *, duration_s: float | None) -> list[Cue]:
    limit_s = duration_s if duration_s is not None else max((c.end_s for c in cues), default=0.0)
    settled: list[Cue] = []
    for index, cue in enumerate(cues):
        next_start_s = cues[index + 1].start_s if index + 1 < len(cues) else limit_s
        end_s = next_start_s if next_start_s - cue.end_s < BRIDGE_GAP_S else cue.end_s + LINGER_S
        start_s = max(0.0, cue.start_s, settled[-1].end_s if settled else 0.0)
        end_s = min(max(end_s, cue.end_s), next_start_s, limit_s)
        if end_s > start_s:
            settled.append(Cue(start_s, end_s, cue.text, cue.words))
    return settled


def write_ass(cues: list[Cue], path: Path, *, style: SubtitleStyle) -> None:
    """An ASS file whose PlayRes is the frame, so sizes and margins are in output pixels. With
    `word_highlight`, each word's span is its own event with that word recoloured: libass's
    karaoke tags colour every word already spoken, not just the one being spoken."""
    primary = HIGHLIGHT_BASE_COLOR if style.word_highlight else style.color
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
        f"Style: Default,{style.font_name},{style.font_size_px},{ass_color(primary)},"
        f"&H000000FF,&H00000000,&H80000000,-1,0,0,0,100,100,0,0,1,{style.outline_px},0,"
        f"{style.alignment},{style.margin_x_px},{style.margin_x_px},{style.margin_y_px},1",
        "",
        "[Events]",
        "Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text",
    ]
    events = [line for cue in cues for line in _events(cue, style)]
    path.write_text("\n".join([*header, *events]) + "\n", encoding="utf-8")


def _events(cue: Cue, style: SubtitleStyle) -> list[str]:
    texts = [word.text for word in cue.words] or cue.text.split()
    lines = layout_lines(texts, style=style)
    if not style.word_highlight or not cue.words:
        return [_dialogue(cue.start_s, cue.end_s, _ass_lines(lines, highlight=None))]
    color = highlight_color(style.color)
    events = []
    for index, word in enumerate(cue.words):
        start_s = cue.start_s if index == 0 else word.start_s
        end_s = cue.words[index + 1].start_s if index + 1 < len(cue.words) else cue.end_s
        if ass_time(start_s) != ass_time(end_s):  # a span shorter than ASS's centisecond
            events.append(_dialogue(start_s, end_s, _ass_lines(lines, highlight=(index, color))))
    return events


def _dialogue(start_s: float, end_s: float, text: str) -> str:
    return f"Dialogue: 0,{ass_time(start_s)},{ass_time(end_s)},Default,,0,0,0,,{text}"


def _ass_lines(lines: list[list[Token]], *, highlight: tuple[int, str] | None) -> str:
    def piece(text: str, index: int) -> str:
        if highlight is not None and index == highlight[0]:
            return f"{{\\1c&H{ass_color(highlight[1])[4:]}&}}{ass_text(text)}{{\\r}}"
        return ass_text(text)

    return "\\N".join(" ".join(piece(text, index) for text, index in line) for line in lines)


def highlight_color(color: str) -> str:
    """The spoken word's colour: the chosen one, unless it would not stand out from white."""
    channels = [int(color[i : i + 2], 16) for i in (1, 3, 5)]
    return HIGHLIGHT_FALLBACK_COLOR if min(channels) >= 0xE0 else color


def write_srt(cues: list[Cue], path: Path) -> None:
    """SubRip: numbered cues, `HH:MM:SS,mmm --> HH:MM:SS,mmm`, at most two short lines each."""
    blocks = []
    for number, cue in enumerate(cues, start=1):
        lines = layout_lines([word.text for word in cue.words] or cue.text.split(), style=None)
        text = "\n".join(_joined(line) for line in lines)
        blocks.append(f"{number}\n{srt_time(cue.start_s)} --> {srt_time(cue.end_s)}\n{text}\n")
    path.write_text("\n".join(blocks), encoding="utf-8")


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


def srt_time(seconds: float) -> str:
    milliseconds = max(0, round(seconds * 1000))
    hours, rest = divmod(milliseconds, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    whole, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{whole:02d},{millis:03d}"


def ass_text(text: str) -> str:
    # Braces open override blocks and a backslash starts an escape (\N, \h) in ASS; spoken text
    # needs neither, so they are replaced by look-alikes.
    return text.replace("\\", "/").replace("{", "(").replace("}", ")").replace("\n", " ")
