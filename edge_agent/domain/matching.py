"""From gallery matches to an identity: one embedding's decision, then a vote over a track.

Similarities are cosines between unit vectors (``FaceAnalyzer.embed`` L2-normalises). dlib's
own tooling speaks in Euclidean (L2) distances; for unit vectors ``a`` and ``b``

    d² = |a - b|² = |a|² + |b|² - 2·a·b = 2 - 2·cos   ⇒   cos = 1 - d²/2

so cos 0.88 is a unit-vector distance of 0.49. But dlib's raw descriptors are *not* unit
vectors: their norms are 1.36-1.59 (measured on t1.jpg, the astronaut, Tom Hanks), and the
distances quoted for dlib (same person 0.2-0.4, different people 0.62-0.90, "0.6" as the usual
cut-off) are raw ones. Normalising divides them by ~1.47, so on our unit embeddings strangers sit
at cos 0.81-0.91 and cos 0.88 (raw ≈ 0.72) names strangers: measured, two of the six t1 faces
score 0.881 and 0.893 against the astronaut. The default is therefore 0.93 (unit distance 0.374,
raw ≈ 0.55, a little stricter than dlib's 0.6): the closest pair of different people among
those photos is at 0.908, the astronaut against flipped, rescaled (0.6-1.5x), rotated (±15°),
re-lit (±30%) or JPEG-40 copies of herself at ≥ 0.99, and raw 0.4 (dlib's far end of "same
person") is cos ≈ 0.96. Thresholds belong to a model: another embedder needs its own.

Two rules keep strangers strangers:
- a single embedding is given a person only when its best match clears the threshold; below
  it the face is *unknown*, never "the nearest person";
- a track is given a person only when enough of its embeddings agree (:func:`vote`), so one
  lucky frame (motion blur, a turned head) cannot name someone.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from edge_agent.ports import GalleryMatch

DEFAULT_THRESHOLD = 0.93
"""Cosine similarity a match must reach, calibrated for ``dlib-resnet-v1`` (see above)."""
DEFAULT_MIN_VOTES = 2
DEFAULT_MIN_FRACTION = 0.5


def cosine_to_l2(similarity: float) -> float:
    """L2 distance between unit vectors whose cosine similarity is ``similarity``."""
    if not -1.0 <= similarity <= 1.0:
        raise ValueError(f"cosine similarity must be in [-1, 1], got {similarity}")
    return math.sqrt(max(0.0, 2.0 - 2.0 * similarity))


def l2_to_cosine(distance: float) -> float:
    """Cosine similarity of unit vectors that are ``distance`` apart (0 ≤ distance ≤ 2)."""
    if not 0.0 <= distance <= 2.0:
        raise ValueError(f"L2 distance between unit vectors is in [0, 2], got {distance}")
    return 1.0 - distance * distance / 2.0


@dataclass(frozen=True, slots=True)
class MatchPolicy:
    """How strict recognition is: per embedding (``threshold``) and per track (the vote)."""

    threshold: float = DEFAULT_THRESHOLD
    min_votes: int = DEFAULT_MIN_VOTES
    min_fraction: float = DEFAULT_MIN_FRACTION

    def __post_init__(self) -> None:
        if not -1.0 <= self.threshold <= 1.0:
            raise ValueError(f"threshold is a cosine similarity in [-1, 1], got {self.threshold}")
        if self.min_votes < 1:
            raise ValueError(f"min_votes must be >= 1, got {self.min_votes}")
        if not 0.0 < self.min_fraction <= 1.0:
            raise ValueError(f"min_fraction must be in (0, 1], got {self.min_fraction}")


@dataclass(frozen=True, slots=True)
class Decision:
    """An identity decision: ``person_id`` or None (unknown), with the similarity behind it.

    For a known face ``similarity`` is the similarity to that person; for an unknown one it is
    the similarity to the nearest gallery entry (0.0 when there was none), kept because it tells
    an operator how close the face came to the threshold. It never implies the nearest person.
    """

    person_id: str | None
    similarity: float

    @property
    def known(self) -> bool:
        return self.person_id is not None


UNKNOWN = Decision(person_id=None, similarity=0.0)


def decide(matches: Sequence[GalleryMatch], threshold: float = DEFAULT_THRESHOLD) -> Decision:
    """One embedding's decision: the best match if it clears ``threshold``, else unknown."""
    if not matches:
        return UNKNOWN
    best = max(matches, key=lambda m: m.similarity)
    if best.similarity >= threshold:
        return Decision(person_id=best.person_id, similarity=best.similarity)
    return Decision(person_id=None, similarity=best.similarity)


def vote(decisions: Sequence[Decision], policy: MatchPolicy = MatchPolicy()) -> Decision:
    """A track's identity from the decisions of its embeddings.

    The most voted person wins when at least ``policy.min_votes`` embeddings named them *and*
    they make up at least ``policy.min_fraction`` of all the track's embeddings (unknown ones
    included). Ties go to the person with the higher best similarity. Otherwise the track is
    unknown, with the best similarity seen, for the reason given on :class:`Decision`.
    """
    if not decisions:
        return UNKNOWN
    counts = Counter(d.person_id for d in decisions if d.person_id is not None)
    best_of: dict[str, float] = {}
    for d in decisions:
        if d.person_id is not None:
            best_of[d.person_id] = max(best_of.get(d.person_id, -1.0), d.similarity)
    if counts:
        person, votes = max(counts.items(), key=lambda item: (item[1], best_of[item[0]]))
        if votes >= policy.min_votes and votes / len(decisions) >= policy.min_fraction:
            return Decision(person_id=person, similarity=best_of[person])
    return Decision(person_id=None, similarity=max(d.similarity for d in decisions))
