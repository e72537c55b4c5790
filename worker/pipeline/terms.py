"""Stock-footage search terms, one per scene in narration order: the LLM's, else keywords."""

from __future__ import annotations

import json
import logging
import re
from collections import Counter
from typing import Any

from worker.errors import PipelineError
from worker.providers.llm import LLM, parse_json_reply

MAX_TERM_WORDS = 4
MAX_TERM_CHARS = 60
MIN_KEYWORD_CHARS = 3
FALLBACK_TERM = "abstract background"
_LIST_KEYS = ("terms", "search_terms", "searchTerms", "keywords", "queries")

log = logging.getLogger(__name__)

_LETTERS = re.compile(r"[^\W\d_]+(?:['’-][^\W\d_]+)*")
# A capitalised word inside a sentence (after a lower-case word or a comma): a name.
_NAMED = re.compile(r"(?<=[a-z,;:] )[A-Z][^\W\d_]+")
_NUMBERED = re.compile(r"^\s*(?:\d{1,2}[.):]|[-*•])\s*(.+?)\s*$")
_NOUNISH = re.compile(r"(tion|sion|ness|ment|ity|ism|ist|er|or|ure|ance|ence|ship|hood|age)s?$")
_NOT_NOUNISH = re.compile(r"(ly|ing|ed|ful|ous|ive|able|ible)$")
# One string, not a list literal: a word list reads and edits better as text.
STOPWORDS = frozenset(
    """a about above after again against all almost also although always am among an and another
    any are around as at away back be became because become been before being below between both
    but by can cannot could did do does doing done down during each either else enough even ever
    every few first for from further get gets getting give given go goes going gone got had has
    have having he her here hers herself him himself his how however i if in into is it its itself
    just keep know known last less let like made make makes making many may maybe me might more
    most much must my myself near need never new next no nor not nothing now of off often on once
    one only or other others our ours ourselves out over own part per perhaps put quite rather
    really same see seem seems she should show since so some something sometimes still such take
    than that the their theirs them themselves then there these they thing things think this those
    though through thus to today together too toward towards under until up upon us use used using
    very want was way ways we well were what whatever when where whether which while who whole
    whom whose why will with within without would yet you your yours yourself yourselves did
    ever every everyone everything let's it's that's there's what's don't doesn't isn't aren't
    can't won't you're we're they're i'm i've you've we've could've would've should've""".split()  # noqa: SIM905
)


def search_terms(chunks: list[str], *, subject: str, llm: LLM | None) -> list[str]:
    """Exactly one term per chunk of the narration (a scene's), in order. The LLM's answer is
    read leniently and completed offline; an LLM failure never fails the job."""
    scenes = len(chunks)
    if scenes < 1:
        return []
    offline = offline_terms(chunks, subject=subject)
    if llm is None:
        return offline
    try:
        answer = llm.chat(terms_messages(chunks, subject=subject), json_mode=True, temperature=0.2)
    except PipelineError as exc:
        log.warning("Search terms from keywords: %s", exc.message)
        return offline
    terms = parse_terms(answer)[:scenes]
    if not terms:
        log.warning("Search terms from keywords: the LLM's answer held no terms")
        return offline
    for i in range(len(terms), scenes):  # too few: the missing scenes get their keywords
        used = {term.lower() for term in terms}
        spare = (term for term in offline[i:] + offline[:i] if term.lower() not in used)
        terms.append(next(spare, f"{FALLBACK_TERM} {i + 1}"))
    return terms


def terms_messages(chunks: list[str], *, subject: str) -> list[dict[str, str]]:
    scenes = "\n".join(f"{i}. {chunk}" for i, chunk in enumerate(chunks, start=1))
    prompt = (
        f"A short video about {subject!r} has {len(chunks)} scenes; this is each scene's "
        f"narration, in order:\n{scenes}\n\nFor each scene, give one stock-footage search term "
        "in English: 1 to 3 words naming something a camera can film (no abstract ideas), "
        "different for every scene. Answer with JSON only, in this shape: "
        f'{{"terms": ["term for scene 1", ...]}} with exactly {len(chunks)} terms in scene order.'
    )
    return [{"role": "user", "content": prompt}]


def parse_terms(answer: str) -> list[str]:
    """Terms from a JSON list, an object holding one, or numbered or bulleted lines; cleaned and
    without duplicates."""
    value: Any = parse_json_reply(answer)
    if isinstance(value, dict):
        value = next((value[key] for key in _LIST_KEYS if key in value), None) or next(
            (item for item in value.values() if isinstance(item, list)), None
        )
    if isinstance(value, str):
        value = re.split(r"[,\n]", value)
    if not isinstance(value, list):
        value = [m.group(1) for line in answer.splitlines() if (m := _NUMBERED.match(line))]
    terms: list[str] = []
    for item in value:
        term = _clean_term(_item_text(item))
        if term and term.lower() not in {seen.lower() for seen in terms}:
            terms.append(term)
    return terms


def _item_text(item: object) -> str:
    """A list item as text; [{"scene": 1, "term": "tide pool"}] gives its first string."""
    if isinstance(item, dict):
        item = next((value for value in item.values() if isinstance(value, str)), "")
    return item if isinstance(item, str) else json.dumps(item)


def _clean_term(text: str) -> str:
    words = " ".join(re.sub(r"[\"'`*_#\[\]{}()<>]", " ", text).split()).strip(" .,;:-")
    if not words or len(words) > MAX_TERM_CHARS * 2:
        return ""
    return " ".join(words.split()[:MAX_TERM_WORDS])[:MAX_TERM_CHARS].strip()


def offline_terms(chunks: list[str], *, subject: str) -> list[str]:
    """One term per chunk: its best keyword after the subject's main noun; never empty, no
    two alike."""
    noun = subject_noun(subject)
    whole = keywords(" ".join(chunks))
    terms: list[str] = []
    for chunk in chunks:
        term = next(
            (
                t
                for word in [*keywords(chunk), *whole]
                if (t := _with_noun(noun, word)) not in terms
            ),
            None,
        )
        terms.append(term or f"{noun or FALLBACK_TERM} {len(terms) + 1}")
    return terms


def _with_noun(noun: str, word: str) -> str:
    return word if not noun or noun == word else f"{noun} {word}"


def subject_noun(subject: str) -> str:
    """The subject's main noun, guessed: its longest content word ("Why octopuses are smart" →
    "octopuses")."""
    return max(_content_words(subject), key=lambda word: (_noun_score(word), len(word)), default="")


def keywords(text: str) -> list[str]:
    """Content words of `text`, best first: frequent, long, noun-like, named."""
    counts = Counter(_content_words(text))
    named = {w.lower() for w in _NAMED.findall(text)}
    return sorted(
        counts,
        key=lambda w: -(counts[w] * 2 + len(w) / 4 + _noun_score(w) + (w in named)),
    )


def _content_words(text: str) -> list[str]:
    words = (w.lower().replace("’", "'") for w in _LETTERS.findall(text))
    return [w for w in words if len(w) >= MIN_KEYWORD_CHARS and w not in STOPWORDS]


def _noun_score(word: str) -> float:
    if _NOT_NOUNISH.search(word):
        return -1.5
    return 1.0 if _NOUNISH.search(word) else 0.0
