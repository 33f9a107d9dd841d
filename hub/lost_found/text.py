"""How alike two item descriptions are: the words they share (pure).

Descriptions are lower-cased and cut into words (letters and digits, any script); filler words
("a", "the", "with", "my" ...) are dropped and a plural ``s`` is taken off, so "Black leather
wallets" and "a black wallet" share {black, wallet}. The similarity is the cosine of the two
word sets: ``shared / sqrt(len(a) * len(b))``, 1.0 for the same words, 0.0 for none in common.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

_WORD = re.compile(r"[^\W_]+", re.UNICODE)
STOPWORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "at",
        "by",
        "for",
        "from",
        "in",
        "into",
        "is",
        "it",
        "its",
        "my",
        "of",
        "on",
        "or",
        "our",
        "the",
        "this",
        "that",
        "to",
        "was",
        "were",
        "with",
        "without",
        "near",
        "left",
        "lost",
        "found",
        "item",
        "items",
        "thing",
        "one",
        "some",
        "his",
        "her",
        "their",
        "your",
    ]
)


def words(text: str) -> frozenset[str]:
    """The content words of ``text``: lower case, no filler words, no plural ``s``."""
    out: set[str] = set()
    for word in _WORD.findall(text.lower()):
        if word in STOPWORDS or (len(word) < 2 and not word.isdigit()):
            continue
        if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
            word = word[:-1]
        out.add(word)
    return frozenset(out)


@dataclass(frozen=True, slots=True)
class TextMatch:
    similarity: float
    shared: tuple[str, ...]


def text_similarity(a: str, b: str) -> TextMatch:
    """The cosine of the two descriptions' word sets, and the words they share."""
    left, right = words(a), words(b)
    if not left or not right:
        return TextMatch(0.0, ())
    shared = left & right
    return TextMatch(len(shared) / math.sqrt(len(left) * len(right)), tuple(sorted(shared)))
