"""The script stage: the request's own text, or narration written by the LLM, cleaned and sized."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable

from app.domain import WORDS_PER_S, VideoSpec, count_words, script_too_long
from worker.errors import PipelineError, ProviderError
from worker.providers.llm import LLM

STAGE = "script"
# What to do, for a user of any client: the original's page has no script field, ours has one.
WRITE_IT_YOURSELF = (
    "or write the narration yourself: the Script field of MoneyPrinter's own web page, or "
    "`script` in the request."
)
WHAT_TO_DO = (
    "To make a video, start Ollama (`ollama serve`, then `ollama pull` the model) or set "
    f"MONEYPRINTER_OPENAI_BASE_URL to an OpenAI-compatible server; {WRITE_IT_YOURSELF}"
)
NO_SCRIPT_MESSAGE = (
    "No script, and no LLM is configured to write one (MONEYPRINTER_LLM_PROVIDER is none). To "
    "make a video, configure one (OLLAMA_BASE_URL and OLLAMA_MODEL for Ollama, or "
    f"MONEYPRINTER_OPENAI_BASE_URL for an OpenAI-compatible server); {WRITE_IT_YOURSELF}"
)
LENGTH_TOLERANCE = 0.15
MIN_WORDS = 8
DEFAULT_MAX_WORDS = 1500  # the settings' default: 600 s, the longest target, at 2.5 words a second
# "3 to 5 sentences" a paragraph, as the prompt asks: how many paragraphs fit in the word cap.
WORDS_PER_PARAGRAPH = 60
LANGUAGES = {
    "en": "English", "de": "German", "fr": "French", "es": "Spanish", "it": "Italian",
    "pt": "Portuguese", "nl": "Dutch", "pl": "Polish", "ru": "Russian", "tr": "Turkish",
    "ja": "Japanese", "zh": "Chinese", "ko": "Korean", "hi": "Hindi", "ar": "Arabic",
}  # fmt: skip
SYSTEM_PROMPT = (
    "You write the narration of short vertical videos. Answer with the narration text only, "
    "as plain sentences in paragraphs: no title, no markdown, no lists, no speaker labels, no "
    "stage directions, no notes about the text."
)

log = logging.getLogger(__name__)

# A candidate sentence end: end punctuation, maybe closing quotes or brackets, then whitespace;
# CJK end punctuation needs no whitespace after it.
_BOUNDARY = re.compile(r"[.!?…]+[\"'”’»)\]]*(?=\s)|[。！？]+[」』”)]*")
# Words that end in a full stop without ending the sentence (letter-dot runs like "U.S." and
# "e.g." are caught by _INITIALS).
_ABBREVIATIONS = frozenset(
    {"dr", "mr", "mrs", "ms", "prof", "sr", "jr", "st", "mt", "vs", "approx", "ca", "cf", "fig"}
    | {"inc", "ltd", "co", "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct"}
    | {"nov", "dec"}
)
_INITIALS = re.compile(r"^(?:[A-Za-z]\.)+$")
# ". . ." (and "Wait . . .", "... ." typed loosely): one ellipsis, glued to the word before it.
_SPACED_ELLIPSIS = re.compile(r"\s*\.(?:\s*\.){2,}")

_FENCE_LINE = re.compile(r"^\s*```")
_HEADING = re.compile(r"^\s*#{1,6}\s")
_TITLE_LINE = re.compile(r"^\W*title\W*:", re.IGNORECASE)
_PREAMBLE = re.compile(r"^(sure|certainly|of course|okay|ok|here('s| is| are))\b.*:$", re.I)
_NOTE_LINE = re.compile(r"^\W*(word count|duration|length|note)\W*:", re.IGNORECASE)
_BULLET = re.compile(r"^\s*(?:[-*•+]|\d{1,2}[.)])\s+")
_LABEL = re.compile(
    r"^[\s*_]*(narrator|narration|voice[- ]?over|vo|host|speaker|presenter|(video )?script)"
    r"[\s*_]*:[\s*_]*",
    re.IGNORECASE,
)
_WHOLE_EMPHASIS = re.compile(r"\s*[*_]+([^*_]+)[*_]+\s*")
_EMPHASIS = re.compile(r"(\*{1,3}|_{2,3})(\S(?:.*?\S)?)\1")
_SQUARE = re.compile(r"\s*\[[^\]]*\]")
_ROUND = re.compile(r"\s*\(([^)]*)\)")
_DIRECTION_WORDS = re.compile(
    r"\b(music|sound|sfx|pause|scene|cut|fade|visual|shot|camera|footage|b-roll|intro|outro|"
    r"transition|on[- ]screen|text|laughs?|beat|voice|narrat\w*|image|clip|background|"
    r"upbeat|dramatic|zoom|word count|\d+:\d\d)\b",
    re.IGNORECASE,
)
_QUOTES = {'"': '"', "“": "”", "'": "'", "«": "»", "„": "“"}


Warn = Callable[[str], None]


def resolve_script(spec: VideoSpec, *, max_words: int = DEFAULT_MAX_WORDS) -> str:
    """The request's narration, cleaned; a permanent error when it has none, or more words than
    the cap (the API refuses such a request already; `moneyprinter render` gets here)."""
    script = clean_script(spec.script or "")
    if not count_words(script):
        raise PipelineError(NO_SCRIPT_MESSAGE, retryable=False, stage=STAGE)
    problem = script_too_long(script, max_words=max_words)
    if problem is not None:
        raise PipelineError(problem, retryable=False, stage=STAGE)
    return script


def write_script(
    spec: VideoSpec,
    *,
    llm: LLM | None,
    max_words: int = DEFAULT_MAX_WORDS,
    warn: Warn = lambda _: None,
) -> str:
    """The request's script when it has one, else the LLM's, sized to `target_seconds` (or the
    paragraphs asked for) and held to `max_words`; `warn` says what was cut short."""
    if count_words(clean_script(spec.script or "")) or llm is None:
        return resolve_script(spec, max_words=max_words)
    target_words = round(spec.target_seconds * WORDS_PER_S) if spec.target_seconds else None
    lowest = max(MIN_WORDS, round((target_words or 0) * (1 - LENGTH_TOLERANCE)))
    paragraphs = _paragraphs(spec, target_words=target_words, max_words=max_words, warn=warn)
    messages = [
        {"role": "system", "content": SYSTEM_PROMPT},
        {
            "role": "user",
            "content": script_prompt(spec, target_words=target_words, paragraphs=paragraphs),
        },
    ]
    raw = _chat(llm, messages, model=spec.ai_model)
    script = clean_script(raw)
    if count_words(script) < lowest:
        log.info("The LLM wrote %d words, asking again for %s", count_words(script), lowest)
        messages += [
            {"role": "assistant", "content": raw},
            {"role": "user", "content": _longer_prompt(count_words(script), target_words)},
        ]
        again = clean_script(_chat(llm, messages, model=spec.ai_model))
        script = max(script, again, key=count_words)
    return _checked_length(
        script, lowest=lowest, target_words=target_words, max_words=max_words, llm_name=llm.name,
        warn=warn,
    )  # fmt: skip


def _chat(llm: LLM, messages: list[dict[str, str]], *, model: str | None) -> str:
    """The LLM's answer. Without it there is no script: its failure ends the job, saying what
    happened and what the user can do about it."""
    try:
        return llm.chat(messages, model=model or None)
    except ProviderError as exc:
        raise ProviderError(
            exc.provider,
            f"{_sentence(exc.message.removeprefix(exc.provider + ': '))} {WHAT_TO_DO}",
            retryable=exc.retryable,
            stage=STAGE,
        ) from exc


def _sentence(text: str) -> str:
    return text if text.endswith((".", "?", "!")) else text + "."


def _paragraphs(spec: VideoSpec, *, target_words: int | None, max_words: int, warn: Warn) -> int:
    """The paragraphs to ask for: the request's, or as many as the word cap holds."""
    fitting = max(1, max_words // WORDS_PER_PARAGRAPH)
    if target_words or spec.paragraph_number <= fitting:
        return spec.paragraph_number
    warn(
        f"{spec.paragraph_number} paragraphs would run past the script cap of {max_words:,} "
        f"words: asking the LLM for {fitting}."
    )
    return fitting


def script_prompt(
    spec: VideoSpec, *, target_words: int | None, paragraphs: int | None = None
) -> str:
    """The user message: subject, length, language and the user's own instructions."""
    if target_words:
        size = (
            f"about {target_words} words (it is read aloud in about {spec.target_seconds} "
            "seconds), in short paragraphs"
        )
    else:
        count = paragraphs or spec.paragraph_number
        size = f"{count} paragraph{'s' if count > 1 else ''} of 3 to 5 sentences"
    parts = [
        f"Write the narration of a short video about: {spec.video_subject}",
        f"Length: {size}.",
        f"Language: write it in {language_name(spec.language)}.",
        "Start with a hook that makes the viewer stay; end with a memorable last sentence.",
    ]
    if spec.custom_prompt:
        parts.append(f"Follow these instructions too: {spec.custom_prompt}")
    return "\n".join(parts)


def language_name(code: str) -> str:
    base = re.split(r"[-_]", code)[0].lower()
    return LANGUAGES.get(base, f"the language with the code {code!r}")


def _longer_prompt(words: int, target_words: int | None) -> str:
    wanted = f"about {target_words} words" if target_words else f"at least {MIN_WORDS * 4} words"
    return (
        f"That narration has only {words} words; it needs {wanted}. Write the whole narration "
        "again at that length, with the same rules."
    )


def _checked_length(
    script: str,
    *,
    lowest: int,
    target_words: int | None,
    max_words: int,
    llm_name: str,
    warn: Warn,
) -> str:
    words = count_words(script)
    if words < lowest:
        wanted = f"about {target_words}" if target_words else f"at least {lowest}"
        raise PipelineError(
            f"{llm_name}: the script has {words} words, twice; the video needs {wanted}. "
            f"Try again, choose another model, {WRITE_IT_YOURSELF}",
            retryable=True,
            stage=STAGE,
        )
    highest = (
        min(round(target_words * (1 + LENGTH_TOLERANCE)), max_words) if target_words else max_words
    )
    if words <= highest:
        return script
    trimmed = trim_to_words(script, min(target_words or max_words, highest), highest=highest)
    if words > max_words:
        warn(
            f"{llm_name} wrote {words:,} words; the script is cut to {count_words(trimmed):,} "
            f"at a sentence end (the cap is {max_words:,})."
        )
    return trimmed


def trim_to_words(script: str, target_words: int, *, highest: int) -> str:
    """Cut at the sentence end nearest `target_words` (not above `highest`), paragraphs kept;
    a text without a usable sentence end is cut at the word and given a full stop."""
    sentences = [
        (number, sentence)
        for number, line in enumerate(script.split("\n"))
        for sentence in split_sentences(line)
    ]
    totals, total = [], 0
    for _, sentence in sentences:
        total += count_words(sentence)
        totals.append(total)
    fitting = [i for i, total in enumerate(totals) if total <= highest]
    cut = min(fitting, key=lambda i: abs(totals[i] - target_words), default=None)
    if cut is None or totals[cut] < target_words * (1 - LENGTH_TOLERANCE):
        return " ".join(script.split()[:target_words]).rstrip(",;:—-") + "."
    kept: dict[int, list[str]] = {}
    for line, sentence in sentences[: cut + 1]:
        kept.setdefault(line, []).append(sentence)
    lines = script.split("\n")
    trimmed = ""
    previous = None
    for line, line_sentences in kept.items():
        if previous is not None:  # a blank line between two kept lines is a paragraph break
            trimmed += "\n\n" if any(not text.strip() for text in lines[previous:line]) else "\n"
        trimmed += " ".join(line_sentences)
        previous = line
    return trimmed


def clean_script(text: str) -> str:
    """Narration only: no markdown, labels, stage directions, title or surrounding quotes;
    whitespace normalised per line, and paragraphs kept apart by one blank line (the voice
    pauses longer there)."""
    lines = [line for line in text.splitlines() if not _FENCE_LINE.match(line)]
    kept: list[str] = []
    for line in _without_title(lines):
        if not line.strip():
            if kept and kept[-1]:
                kept.append("")  # a paragraph break, however many blank lines made it
        elif cleaned := _clean_line(line):
            kept.append(cleaned)
    return "\n".join(kept).strip("\n")


def _without_title(lines: list[str]) -> list[str]:
    """Drop a chatty preamble ("Here is a script:") and a first short line without end
    punctuation that stands alone above the text: a title, which the voice must not read."""
    for _ in range(2):  # a preamble may precede a title
        filled = [i for i, line in enumerate(lines) if line.strip()]
        if len(filled) < 2:
            return lines
        first = lines[filled[0]].strip()
        is_title = (
            filled[1] > filled[0] + 1
            and count_words(first) <= 12
            and not re.search(r"[.!?…。！？][\W]*$", first)
        )
        if not (_PREAMBLE.match(first) or is_title):
            return lines
        lines = lines[filled[0] + 1 :]
    return lines


def _clean_line(line: str) -> str:
    if _HEADING.match(line) or _TITLE_LINE.match(line) or _NOTE_LINE.match(line):
        return ""
    line = _LABEL.sub("", _BULLET.sub("", line))
    whole = _WHOLE_EMPHASIS.fullmatch(line)
    if whole and _DIRECTION_WORDS.search(whole.group(1)):
        return ""  # *Upbeat music plays*: a direction set in italics on its own line
    line = _EMPHASIS.sub(r"\2", line).replace("**", "")
    line = _SQUARE.sub("", line)
    line = _ROUND.sub(_drop_direction, line)
    line = " ".join(line.split())
    line = _LABEL.sub("", line)  # a label may follow bold markers: **Narrator:** …
    return _unquoted(line)


def _drop_direction(match: re.Match[str]) -> str:
    inner = match.group(1)
    return "" if _DIRECTION_WORDS.search(inner) else match.group(0)


def _unquoted(line: str) -> str:
    if len(line) >= 2 and _QUOTES.get(line[0]) == line[-1] and line[0] not in line[1:-1]:
        return line[1:-1].strip()
    return line


def split_sentences(script: str) -> list[str]:
    """Sentences in reading order; line breaks end sentences; abbreviations ("Dr.", "e.g.",
    "U.S."), initials and decimals do not; text without end punctuation is one sentence. An
    ellipsis ends one too, spaced (". . .") or not, and is written "…"."""
    return [text for text, _ in _sentences(script)]


def paragraph_ends(script: str) -> list[bool]:
    """For each of `split_sentences(script)`: whether a paragraph ends after it."""
    return [ends for _, ends in _sentences(script)]


def _sentences(script: str) -> list[tuple[str, bool]]:
    found: list[tuple[str, bool]] = []
    for line in script.splitlines():
        if not line.strip():
            if found:
                found[-1] = (found[-1][0], True)
            continue
        line = _SPACED_ELLIPSIS.sub("…", line)
        start = 0
        for match in _BOUNDARY.finditer(line):
            if _is_sentence_end(line, match):
                found.append((line[start : match.end()].strip(), False))
                start = match.end()
        found.append((line[start:].strip(), False))
        found = [(text, ends) for text, ends in found if text and count_words(text)]
    if found:
        found[-1] = (found[-1][0], False)  # the end of the script is no pause
    return found


def _is_sentence_end(line: str, match: re.Match[str]) -> bool:
    if match.group(0) != ".":
        return True
    token = line[: match.end()].split()[-1].lstrip("\"'“‘(«[").lower()
    if token[:-1] in _ABBREVIATIONS or _INITIALS.match(token):
        return False
    # A full stop followed by a lower-case word is an abbreviation we do not know ("approx. ten").
    following = line[match.end() :].lstrip()[:1]
    return not following.islower()
