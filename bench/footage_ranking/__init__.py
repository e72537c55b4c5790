"""How well each ranker picks the clip that fits a scene, on tests/data/footage_ranking.json."""
