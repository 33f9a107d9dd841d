"""One score per (lost report, found item) pair, from what the hub measured itself (pure).

``image``: the cosine similarity of the two photos' embeddings (the image search's model),
when the report has a photo; ``text``: the description similarity of hub/lost_found/text.py.
The score is their weighted mean, image 0.7 and text 0.3 (a photo says more than a few words);
without a report photo the score is the text similarity alone. A pair is proposed to staff
when its score reaches ``PROPOSE_AT``; each report gets at most ``MAX_PROPOSALS``, best first.

Calibration (tests/integration/test_lost_found_api.py, EfficientNet-Lite0): another view of the
same object scores 0.85-0.96 on the image, a different object 0.09-0.23; so a same-object photo
with no shared word still scores about 0.6 and a different object with every word shared at
most 0.3 x 1 + 0.7 x 0.23 = 0.46.
"""

from __future__ import annotations

from dataclasses import dataclass

IMAGE_WEIGHT = 0.7
TEXT_WEIGHT = 0.3
PROPOSE_AT = 0.5
MAX_PROPOSALS = 5


@dataclass(frozen=True, slots=True)
class Score:
    score: float
    image: float | None
    text: float

    @property
    def proposed(self) -> bool:
        return self.score >= PROPOSE_AT


def combine(image: float | None, text: float) -> Score:
    """The pair's score; ``image`` is ``None`` when either side has no comparable photo."""
    text = min(max(text, 0.0), 1.0)
    if image is None:
        return Score(round(text, 6), None, round(text, 6))
    image = min(max(image, 0.0), 1.0)
    value = IMAGE_WEIGHT * image + TEXT_WEIGHT * text
    return Score(round(value, 6), round(image, 6), round(text, 6))


def best(scores: dict[int, Score], limit: int = MAX_PROPOSALS) -> list[tuple[int, Score]]:
    """The proposed pairs among ``scores`` (keyed by the other side's id), best first (ties by
    id), at most ``limit``."""
    kept = [(key, s) for key, s in scores.items() if s.proposed]
    kept.sort(key=lambda pair: (-pair[1].score, pair[0]))
    return kept[:limit]
