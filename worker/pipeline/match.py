"""Which clip fits a scene: how well each candidate's description matches the scene's narration,
then the frame's rules (orientation, no upscaling, long enough, not seen recently).

Relevance is the cosine similarity of all-MiniLM-L6-v2 sentence vectors (worker/text_model.py)
between the scene's query and what the source says of the clip. It was chosen against plain
keyword overlap and against taking the search's first result on the labelled scenes in
tests/data/footage_ranking.json; `python -m bench.footage_ranking` measures all three and
docs/footage.md records the figures.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from app.stock import orientation
from worker.providers.backgrounds import PALETTES, Palette
from worker.providers.footage import Candidate, words
from worker.text_model import TextModel, WeightsMismatch

# Score = relevance − penalties. Relevance runs from about 0 (unrelated) to about 0.7 (the
# clip's words say what the sentence says); a penalty is how much better a clip must fit to win
# despite the fault. The figures were tuned on the labelled set (docs/footage.md).
WRONG_ORIENTATION = 0.1  # a landscape clip cropped to 9:16 keeps a third of its width
UPSCALED = 0.15  # below the frame's size: the render scales it up, visibly soft
TOO_SHORT = 0.05  # shorter than the scene: it loops
CONTENDERS = 8  # the best-fitting candidates whose facts are probed and weighed
LOCAL_MIN_RELEVANCE = 0.15  # a local file below this says nothing of the scene: not offered


ReportLog = Callable[[str, str], None]  # (level, message)


class Relevance(Protocol):
    """How well each description fits the query, higher is better."""

    def __call__(self, query: str, descriptions: Sequence[str]) -> list[float]: ...


class ModelRelevance:
    """Cosine similarity of the sentence vectors (they are unit length). The model loads on the
    first call and goes with this object: the pipeline lets it go before the render."""

    def __init__(self) -> None:
        self._model: TextModel | None = None

    def __call__(self, query: str, descriptions: Sequence[str]) -> list[float]:
        if not descriptions:
            return []
        if self._model is None:
            self._model = TextModel()
        vectors = self._model.encode([query, *descriptions])
        return [float(score) for score in vectors[1:] @ vectors[0]]


def keyword_relevance(query: str, descriptions: Sequence[str]) -> list[float]:
    """The share of the query's words each description has: the baseline the model beat."""
    wanted = words(query)
    return [len(wanted & words(text)) / max(1, len(wanted)) for text in descriptions]


def scene_query(text: str, term: str) -> str:
    """What a scene's clip should show: its narration (adding the search term did not help the
    model on the labelled set, see docs/footage.md), else the term."""
    return text.strip() or term


@dataclass(frozen=True)
class Ranked:
    candidate: Candidate
    relevance: float
    score: float
    upscaled: bool
    recent: bool

    def describe(self) -> str:
        what = self.candidate.description or "no description"
        return (
            f"{self.candidate.source} {self.candidate.clip_id} ({what}; fits {self.relevance:.2f})"
        )


def rank(
    candidates: Sequence[Candidate], relevance: Sequence[float], *, width_px: int,
    height_px: int, duration_s: float, recent: frozenset[str] = frozenset(),
) -> list[Ranked]:  # fmt: skip
    """Probed candidates, best first: a clip used in a recent video only after every fresh one,
    otherwise by relevance less the penalties. Ties keep the sources' order."""
    wanted = orientation(width_px, height_px)
    ranked = []
    for candidate, fit in zip(candidates, relevance, strict=True):
        upscaled = candidate.width_px < width_px or candidate.height_px < height_px
        score = (
            fit
            - WRONG_ORIENTATION * (orientation(candidate.width_px, candidate.height_px) != wanted)
            - UPSCALED * upscaled
            - TOO_SHORT * (candidate.duration_s < duration_s)
        )
        ranked.append(Ranked(candidate, fit, score, upscaled, candidate.key in recent))
    return sorted(ranked, key=lambda item: (item.recent, -item.score))


def palette_for(subject: str, relevance: Relevance, *, report: ReportLog | None = None) -> Palette:
    """The palette whose mood words fit the subject best: generated backgrounds for "Ocean
    animals" come in blues and teals, for "Personal finance" in golds. Should the model fail
    to load (its weights changed, say), one chosen by the subject's hash, with a warning."""
    try:
        fits = relevance(subject, [palette.mood for palette in PALETTES])
    except (OSError, ValueError, WeightsMismatch) as exc:
        if report is not None:
            report("warning", f"the sentence model did not load ({exc}); palette by subject")
        digest = hashlib.sha256(subject.encode()).digest()
        return PALETTES[digest[0] % len(PALETTES)]
    return PALETTES[max(range(len(PALETTES)), key=lambda index: fits[index])]
