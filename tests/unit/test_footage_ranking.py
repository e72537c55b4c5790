"""The footage ranker against its baselines on the labelled scenes of
tests/data/footage_ranking.json (bench/footage_ranking records the full table)."""

from __future__ import annotations

import random

import pytest

from bench.footage_ranking import __main__ as ranking
from worker.pipeline.match import keyword_relevance

SCENES = ranking.load_scenes()
MODEL = ranking.MODEL


def test_the_labelled_set_is_what_its_provenance_says() -> None:
    assert len(SCENES) >= 50
    ids = [c["id"] for scene in SCENES for c in scene["candidates"]]
    assert len(ids) == len(set(ids))
    for scene in SCENES:
        candidates = scene["candidates"]
        assert 6 <= len(candidates) <= 10
        assert {c["relevance"] for c in candidates} <= {0, 1, 2}
        # Sorted by id, then shuffled with the scene's seed: the order says nothing.
        expected = sorted(candidates, key=lambda c: str(c["id"]))
        random.Random(f"footage-ranking:{scene['id']}").shuffle(expected)
        assert candidates == expected, scene["id"]


@pytest.fixture(scope="module")
def model_score() -> ranking.Score:
    return ranking.evaluate(SCENES, MODEL, query=ranking.QUERIES["sentence"])


def test_the_model_picks_a_fitting_clip_far_more_often_than_the_first_result(
    model_score: ranking.Score,
) -> None:
    first = ranking.evaluate(SCENES, ranking.first_result, query=ranking.QUERIES["sentence"])
    assert model_score.fits - first.fits >= 0.4
    assert model_score.acceptable - first.acceptable >= 0.4


def test_the_model_beats_keyword_matching_with_its_best_query(
    model_score: ranking.Score,
) -> None:
    keywords = [
        ranking.evaluate(SCENES, keyword_relevance, query=query)
        for query in ranking.QUERIES.values()
    ]
    best = max(keywords, key=lambda score: (score.fits, score.acceptable))
    assert model_score.fits > best.fits
    assert model_score.acceptable - best.acceptable >= 0.1
    assert model_score.mrr > best.mrr
