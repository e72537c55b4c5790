"""The numpy all-MiniLM-L6-v2 against the scores sentence-transformers publishes for the model, its
tokeniser against BERT's known ids, and the weights' hash check."""

from __future__ import annotations

import hashlib
import json
import struct
from pathlib import Path

import numpy as np
import pytest

from worker.text_model import (
    MODEL_DIR,
    WEIGHTS,
    TextModel,
    WeightsMismatch,
    basic_words,
    read_safetensors,
)

TOLERANCE = 1e-4  # the published scores have four decimals
CORPUS = [
    "A man is eating food.",
    "A man is eating a piece of bread.",
    "The girl is carrying a baby.",
    "A man is riding a horse.",
    "A woman is playing violin.",
    "Two men pushed carts through the woods.",
    "A man is riding a white horse on an enclosed ground.",
    "A monkey is playing drums.",
    "A cheetah is running behind its prey.",
]
# examples/sentence_transformer/applications/semantic-search/README.md: each query's top five.
SEARCH = {
    "A man is eating pasta.": [
        ("A man is eating food.", 0.7035),
        ("A man is eating a piece of bread.", 0.5272),
        ("A man is riding a horse.", 0.1889),
        ("A man is riding a white horse on an enclosed ground.", 0.1047),
        ("A cheetah is running behind its prey.", 0.0980),
    ],
    "Someone in a gorilla costume is playing a set of drums.": [
        ("A monkey is playing drums.", 0.6433),
        ("A woman is playing violin.", 0.2564),
        ("A man is riding a horse.", 0.1389),
        ("A man is riding a white horse on an enclosed ground.", 0.1191),
        ("A cheetah is running behind its prey.", 0.1080),
    ],
    "A cheetah chases prey on across a field.": [
        ("A cheetah is running behind its prey.", 0.8253),
        ("A man is eating food.", 0.1399),
        ("A monkey is playing drums.", 0.1292),
        ("A man is riding a white horse on an enclosed ground.", 0.1097),
        ("A man is riding a horse.", 0.0650),
    ],
}


@pytest.fixture(scope="module")
def model() -> TextModel:
    return TextModel()


def test_quickstart_scores(model: TextModel) -> None:
    """sentence-transformers' quickstart, run with this model."""
    vectors = model.encode(
        ["The weather is lovely today.", "It's so sunny outside!", "He drove to the stadium."]
    )
    expected = [[1.0, 0.6660, 0.1046], [0.6660, 1.0, 0.1411], [0.1046, 0.1411, 1.0]]
    np.testing.assert_allclose(vectors @ vectors.T, expected, atol=TOLERANCE)


def test_semantic_search_scores_and_ranking(model: TextModel) -> None:
    scores = model.encode(list(SEARCH)) @ model.encode(CORPUS).T
    for row, hits in zip(scores, SEARCH.values(), strict=True):
        top = [CORPUS[i] for i in np.argsort(-row)[:5]]
        assert top == [sentence for sentence, _ in hits]
        for sentence, score in hits:
            assert row[CORPUS.index(sentence)] == pytest.approx(score, abs=TOLERANCE)


def test_vectors_are_unit_float32_rows(model: TextModel) -> None:
    vectors = model.encode(["one", "two words", ""])
    assert vectors.shape == (3, 384)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-6)
    assert model.encode([]).shape == (0, 384)


def test_a_batch_gives_each_text_its_own_vector(model: TextModel) -> None:
    """Padding to the longest text changes nothing: the mask keeps it out."""
    texts = [*CORPUS, "Short.", "word " * 100, *SEARCH]
    alone = np.concatenate([model.encode([text]) for text in texts])
    np.testing.assert_allclose(model.encode(texts), alone, atol=1e-6)


def test_known_ids(model: TextModel) -> None:
    assert model.tokenizer.encode("Hello, world!") == [101, 7592, 1010, 2088, 999, 102]


def test_wordpieces(model: TextModel) -> None:
    names = {index: token for token, index in model.tokenizer.vocab.items()}
    assert [names[i] for i in model.tokenizer.encode("unaffable")[1:-1]] == [
        "una",
        "##ffa",
        "##ble",
    ]


def test_lower_case_without_accents(model: TextModel) -> None:
    assert basic_words("Naïve CAFÉ") == ["naive", "cafe"]
    assert model.tokenizer.encode("Café") == model.tokenizer.encode("cafe") == [101, 7668, 102]


def test_punctuation_and_cjk_are_words_of_their_own(model: TextModel) -> None:
    assert basic_words("$5.00 e-mail") == ["$", "5", ".", "00", "e", "-", "mail"]
    assert basic_words("hello世界!") == ["hello", "世", "界", "!"]
    assert basic_words("カタカナ") == ["カタカナ"]  # kana are not ideographs
    assert model.tokenizer.encode("世")[1] == model.tokenizer.vocab["世"]


def test_controls_dropped_and_whitespace_split() -> None:
    assert basic_words("a\x00b\ufffdc\u200bd e\tf\u00a0g\nh") == ["abcd", "e", "f", "g", "h"]


def test_unknown_words(model: TextModel) -> None:
    unk = model.tokenizer.unk
    assert unk == 100
    assert model.tokenizer.encode("a" * 101) == [101, unk, 102]
    assert unk not in model.tokenizer.encode("a" * 100)
    assert model.tokenizer.encode("ab☃") == [101, unk, 102]  # no piece covers ☃: the word goes


def test_truncated_to_256_ids(model: TextModel) -> None:
    ids = model.tokenizer.encode("word " * 400)
    assert len(ids) == 256
    assert (ids[0], ids[-1]) == (101, 102)


def write_safetensors(path: Path) -> bytes:
    data = np.arange(4, dtype=np.float32).tobytes()
    header = json.dumps({"x": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]}})
    content = struct.pack("<Q", len(header)) + header.encode() + data
    path.write_bytes(content)
    return content


def test_safetensors_read_when_the_hash_matches(tmp_path: Path) -> None:
    path = tmp_path / WEIGHTS
    sha256 = hashlib.sha256(write_safetensors(path)).hexdigest()
    np.testing.assert_array_equal(read_safetensors(path, sha256)["x"], [[0, 1], [2, 3]])


def test_a_changed_byte_is_refused(tmp_path: Path) -> None:
    path = tmp_path / WEIGHTS
    expected = hashlib.sha256(write_safetensors(path)).hexdigest()
    changed = bytearray(path.read_bytes())
    changed[-1] ^= 1
    path.write_bytes(changed)
    with pytest.raises(WeightsMismatch) as error:
        read_safetensors(path, expected)
    assert str(path) in str(error.value)
    assert expected in str(error.value)
    assert hashlib.sha256(changed).hexdigest() in str(error.value)


def test_the_model_refuses_other_weights(tmp_path: Path) -> None:
    """The model's own folder but another weights file: loading stops at the hash."""
    for name in ("config.json", "sentence_bert_config.json", "vocab.txt"):
        (tmp_path / name).symlink_to(MODEL_DIR / name)
    write_safetensors(tmp_path / WEIGHTS)
    with pytest.raises(WeightsMismatch, match="53aa5117"):
        TextModel(tmp_path)
