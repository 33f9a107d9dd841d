"""Lost & found's pure parts: description words, the explained score, the status moves."""

from __future__ import annotations

import math

import pytest

from hub.hotel.errors import HotelError
from hub.lost_found.scoring import PROPOSE_AT, best, combine
from hub.lost_found.states import FOUND_MOVES, LOST_MOVES, MATCH_MOVES, check_move
from hub.lost_found.text import text_similarity, words


def test_words_drop_filler_case_and_plurals() -> None:
    assert words("Black leather Wallets, with my ID cards") == {
        "black",
        "leather",
        "wallet",
        "id",
        "card",
    }
    assert words("glass") == {"glass"}  # not a plural
    assert words("Ví da màu đen") == {"ví", "da", "màu", "đen"}  # any script
    assert words("the a of") == frozenset()


def test_text_similarity_is_the_cosine_of_the_word_sets() -> None:
    same = text_similarity("black umbrella", "a Black Umbrella")
    assert (same.similarity, same.shared) == (1.0, ("black", "umbrella"))
    half = text_similarity("black leather wallet", "black wallet")
    assert half.similarity == pytest.approx(2 / math.sqrt(6))
    assert text_similarity("black umbrella", "red scarf").similarity == 0.0
    assert text_similarity("", "red scarf").similarity == 0.0


def test_score_weighs_the_photo_over_the_words() -> None:
    same_object_no_words = combine(0.86, 0.0)
    assert same_object_no_words.score == pytest.approx(0.602)
    assert same_object_no_words.proposed
    other_object_all_words = combine(0.23, 1.0)
    assert other_object_all_words.score == pytest.approx(0.461)
    assert not other_object_all_words.proposed
    words_only = combine(None, 0.6)
    assert (words_only.score, words_only.image, words_only.proposed) == (0.6, None, True)
    assert combine(1.4, -0.2).score == pytest.approx(0.7)  # clipped to 0..1


def test_best_keeps_the_proposed_pairs_best_first() -> None:
    scores = {
        7: combine(0.9, 0.5),
        3: combine(0.9, 0.5),
        5: combine(0.1, 0.1),
        9: combine(None, 0.8),
    }
    assert [key for key, _ in best(scores)] == [9, 3, 7]  # 0.8, then 0.78 by id
    assert [key for key, _ in best(scores, limit=1)] == [9]
    assert all(s.score >= PROPOSE_AT for _, s in best(scores))


def test_status_moves() -> None:
    check_move("lost report", LOST_MOVES, "open", "matched")
    check_move("lost report", LOST_MOVES, "matched", "found")
    check_move("found item", FOUND_MOVES, "claimed", "returned")
    with pytest.raises(HotelError, match="allowed: returned, closed") as refused:
        check_move("lost report", LOST_MOVES, "found", "matched")
    assert (refused.value.status, refused.value.allowed) == (409, ("returned", "closed"))
    with pytest.raises(HotelError, match=r"none \(final\)"):
        check_move("match", MATCH_MOVES, "rejected", "confirmed", field="match_id")
