"""The script stage: the request's own text (LLM scripts arrive with the generation pipeline)."""

from __future__ import annotations

import re

from app.domain import VideoSpec
from worker.pipeline.base import PipelineError

STAGE = "script"
NO_SCRIPT_MESSAGE = (
    "No script: pass `script` in the request or configure an LLM (OLLAMA_BASE_URL) — "
    "LLM scripts arrive with the generation pipeline."
)
# A sentence ends at . ! ? … (or one of them and a closing quote or bracket) before whitespace,
# or at a line break. Two lookbehinds because Python's must have a fixed width.
_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+|(?<=[.!?…][\"'”’)\]])\s+|\n+")
_WORD = re.compile(r"\w+(?:['’-]\w+)*")


def resolve_script(spec: VideoSpec) -> str:
    """The narration text, whitespace-normalised per line; a permanent error when there is none."""
    text = spec.script or ""
    lines = [" ".join(line.split()) for line in text.splitlines()]
    script = "\n".join(line for line in lines if line)
    if not script or not count_words(script):
        raise PipelineError(NO_SCRIPT_MESSAGE, retryable=False, stage=STAGE)
    return script


def split_sentences(script: str) -> list[str]:
    """Sentences in reading order; text without end punctuation is one sentence."""
    parts = (part.strip() for part in _SENTENCE_END.split(script))
    return [part for part in parts if part and count_words(part)]


def count_words(text: str) -> int:
    return len(_WORD.findall(text))
