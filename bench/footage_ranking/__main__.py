"""Ranks the labelled scenes of tests/data/footage_ranking.json three ways: the search's first
result, keyword overlap, and the sentence model, each with the query and description variants
worth trying, and writes results/ranking.{json,md}.

    .venv/bin/python -m bench.footage_ranking
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from app.media import file_description
from app.stock import pexels_slug_words
from worker.pipeline.match import ModelRelevance, keyword_relevance

HERE = Path(__file__).resolve().parent
DATA = HERE.parents[1] / "tests" / "data" / "footage_ranking.json"

MODEL = ModelRelevance()  # loaded once for every run below
Scene = dict[str, Any]
Relevance = Callable[[str, Sequence[str]], list[float]]


def describe(candidate: dict[str, Any], *, with_author: bool = False) -> str:
    """What our providers make of the candidate's source fields (worker/providers)."""
    if candidate["source"] == "pexels":
        words = pexels_slug_words(candidate["url"])
        return f"{words} by {candidate['user']}" if with_author else words
    if candidate["source"] == "pixabay":
        return str(candidate["tags"])
    return file_description(candidate["name"], candidate.get("sidecar", ""))


def first_result(query: str, descriptions: Sequence[str]) -> list[float]:
    return [0.0] * len(descriptions)  # every tie goes to the source's order


QUERIES: dict[str, Callable[[Scene], str]] = {
    "sentence": lambda scene: scene["sentence"],
    "sentence (term)": lambda scene: f"{scene['sentence']} ({scene['term']})",
    "subject: sentence": lambda scene: f"{scene['subject']}: {scene['sentence']}",
    "term": lambda scene: scene["term"],
}


@dataclass(frozen=True)
class Score:
    ranker: str
    fits: float  # share of scenes whose pick is graded 2
    acceptable: float  # share graded 1 or 2
    mean_grade: float
    mrr: float  # mean reciprocal rank of the first clip graded 2, over scenes that have one
    seconds: float


def evaluate(
    scenes: list[Scene], relevance: Relevance, *, query: Callable[[Scene], str],
    with_author: bool = False, name: str = "",
) -> Score:  # fmt: skip
    """Each scene's candidates sorted by relevance, ties in the file's (the sources') order."""
    started = time.perf_counter()
    picks, reciprocal = [], []
    for scene in scenes:
        candidates = scene["candidates"]
        fit = relevance(query(scene), [describe(c, with_author=with_author) for c in candidates])
        order = sorted(range(len(candidates)), key=lambda i: -fit[i])
        grades = [candidates[i]["relevance"] for i in order]
        picks.append(grades[0])
        if 2 in grades:
            reciprocal.append(1 / (grades.index(2) + 1))
    return Score(
        name, fits=sum(g == 2 for g in picks) / len(picks),
        acceptable=sum(g >= 1 for g in picks) / len(picks), mean_grade=sum(picks) / len(picks),
        mrr=sum(reciprocal) / len(reciprocal), seconds=time.perf_counter() - started,
    )  # fmt: skip


def load_scenes() -> list[Scene]:
    return list(json.loads(DATA.read_text("utf-8"))["scenes"])


def run() -> list[Score]:
    scenes = load_scenes()
    MODEL("warm up", ["the model loads once"])
    scores = [evaluate(scenes, first_result, query=QUERIES["sentence"], name="first result")]
    for label, query in QUERIES.items():
        scores.append(evaluate(scenes, keyword_relevance, query=query, name=f"keywords, {label}"))
    for label, query in QUERIES.items():
        scores.append(evaluate(scenes, MODEL, query=query, name=f"model, {label}"))
    scores.append(
        evaluate(
            scenes, MODEL, query=QUERIES["sentence (term)"], with_author=True,
            name="model, sentence (term), Pexels author in the description",
        )
    )  # fmt: skip
    return scores


def main() -> None:
    scenes = load_scenes()
    scores = run()
    results = HERE / "results"
    results.mkdir(exist_ok=True)
    (results / "ranking.json").write_text(
        json.dumps({"scenes": len(scenes), "scores": [asdict(s) for s in scores]}, indent=2),
        "utf-8",
    )
    lines = [
        f"# Footage ranking on {len(scenes)} labelled scenes (tests/data/footage_ranking.json)",
        "",
        "| Ranker, query | fits (2) | acceptable (≥ 1) | mean grade | MRR of a fit | s |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {s.ranker} | {s.fits:.1%} | {s.acceptable:.1%} | {s.mean_grade:.2f} | {s.mrr:.3f} "
        f"| {s.seconds:.2f} |"
        for s in scores
    ]
    (results / "ranking.md").write_text("\n".join(lines) + "\n", "utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
