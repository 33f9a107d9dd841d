"""Identity decisions: threshold per embedding, vote per track; strangers stay strangers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from edge_agent.domain.matching import (
    DEFAULT_THRESHOLD,
    Decision,
    MatchPolicy,
    cosine_to_l2,
    decide,
    l2_to_cosine,
    vote,
)
from edge_agent.ports import GalleryMatch


def test_cosine_088_is_unit_distance_049() -> None:
    assert cosine_to_l2(0.88) == pytest.approx(0.49, abs=0.001)


def test_default_threshold_is_stricter_than_dlibs_raw_06() -> None:
    # dlib's raw descriptors have norm ~1.47; its customary raw cut-off 0.6 is ~0.41 on units
    assert cosine_to_l2(DEFAULT_THRESHOLD) < 0.6 / 1.47


def test_conversion_matches_real_unit_vectors() -> None:
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(2, 128))
    a, b = a / np.linalg.norm(a), b / np.linalg.norm(b)
    cos = float(a @ b)
    distance = float(np.linalg.norm(a - b))
    assert cosine_to_l2(cos) == pytest.approx(distance)
    assert l2_to_cosine(distance) == pytest.approx(cos)


def test_conversions_are_inverse() -> None:
    for cos in (-1.0, -0.3, 0.0, 0.5, 0.88, 1.0):
        assert l2_to_cosine(cosine_to_l2(cos)) == pytest.approx(cos)


@pytest.mark.parametrize("bad", [1.5, -1.01, math.nan])
def test_cosine_to_l2_refuses_impossible_similarities(bad: float) -> None:
    with pytest.raises(ValueError, match="cosine"):
        cosine_to_l2(bad)


def test_l2_to_cosine_refuses_impossible_distances() -> None:
    with pytest.raises(ValueError, match="L2"):
        l2_to_cosine(2.5)


def test_decide_names_the_best_match_above_threshold() -> None:
    matches = [GalleryMatch("bob", 0.90), GalleryMatch("alice", 0.95)]
    assert decide(matches, 0.88) == Decision("alice", 0.95)


def test_decide_below_threshold_is_unknown_not_the_nearest_person() -> None:
    decision = decide([GalleryMatch("alice", 0.87)], 0.88)
    assert decision.person_id is None
    assert not decision.known
    assert decision.similarity == pytest.approx(0.87)


def test_decide_with_no_matches_is_unknown() -> None:
    assert decide([], 0.88) == Decision(None, 0.0)


def test_decide_at_exactly_the_threshold_matches() -> None:
    assert decide([GalleryMatch("alice", 0.88)], 0.88).person_id == "alice"


def test_vote_needs_min_votes() -> None:
    policy = MatchPolicy(min_votes=2)
    assert vote([Decision("alice", 0.95)], policy).person_id is None
    assert vote([Decision("alice", 0.95), Decision("alice", 0.92)], policy) == Decision(
        "alice", 0.95
    )


def test_vote_needs_the_agreeing_fraction() -> None:
    policy = MatchPolicy(min_votes=2, min_fraction=0.5)
    two_of_five = [Decision("alice", 0.9)] * 2 + [Decision(None, 0.7)] * 3
    two_of_four = [Decision("alice", 0.9)] * 2 + [Decision(None, 0.7)] * 2
    assert vote(two_of_five, policy).person_id is None
    assert vote(two_of_four, policy).person_id == "alice"


def test_vote_takes_the_most_voted_person() -> None:
    decisions = [
        Decision("bob", 0.99),
        Decision("alice", 0.90),
        Decision("alice", 0.91),
        Decision("alice", 0.89),
    ]
    assert vote(decisions) == Decision("alice", 0.91)


def test_vote_between_split_people_is_unknown_below_the_fraction() -> None:
    decisions = [Decision("bob", 0.9)] * 2 + [Decision("alice", 0.9)] * 2 + [Decision(None, 0.5)]
    assert vote(decisions).person_id is None


def test_vote_tie_goes_to_the_higher_similarity() -> None:
    decisions = [Decision("bob", 0.90)] * 2 + [Decision("alice", 0.95)] * 2
    assert vote(decisions, MatchPolicy(min_fraction=0.5)).person_id == "alice"


def test_unknown_track_keeps_the_best_similarity_seen() -> None:
    result = vote([Decision(None, 0.6), Decision(None, 0.8)])
    assert result == Decision(None, 0.8)


def test_vote_of_nothing_is_unknown() -> None:
    assert vote([]) == Decision(None, 0.0)


@pytest.mark.parametrize(
    "kwargs",
    [{"threshold": 1.5}, {"min_votes": 0}, {"min_fraction": 0.0}, {"min_fraction": 1.2}],
)
def test_policy_refuses_nonsense(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        MatchPolicy(**kwargs)  # type: ignore[arg-type]
