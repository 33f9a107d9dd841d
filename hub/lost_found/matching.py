"""Proposing matches between lost reports and found items, and staff's decisions on them.

The hub scores every open pair itself (hub/lost_found/scoring.py: photo embeddings through
hub/lost_found/photos.py, description words through hub/lost_found/text.py) and keeps the pairs
that reach the threshold as ``proposed`` matches; nobody supplies a similarity. A proposal moves
the report to ``matched``. Staff confirm one (the report becomes ``found``, the found item
``claimed``, the other proposals of both are rejected) or reject it (a report left with no
proposal is ``open`` again). Rejected pairs are never proposed again.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from hub.audit import AuditAction, audit
from hub.db import SessionFactory
from hub.hotel.errors import HotelError, not_found
from hub.hotel.records import lock_row
from hub.lost_found.photos import PhotoIndex
from hub.lost_found.records import get_found, get_lost, matches_of, move_found, move_lost
from hub.lost_found.scoring import MAX_PROPOSALS, Score, best, combine
from hub.lost_found.states import MATCH_MOVES, MATCHABLE_FOUND, MATCHABLE_LOST, check_move
from hub.lost_found.text import text_similarity
from hub.tables import FoundItem, LostFoundMatch, LostItem, utcnow
from hub.vision.image_search import ImageSearchUnavailableError

SYSTEM_ACTOR = "system:lost_found"


class NoPhotoIndexError(ImageSearchUnavailableError):
    """A photo must be compared but this process has no image search (a Prefect worker)."""


async def _image_sims(
    photos: PhotoIndex | None, image_id: int | None, candidates: Sequence[int]
) -> dict[int, float]:
    if image_id is None or not candidates:
        return {}
    if photos is None:
        raise NoPhotoIndexError("the image search is not running in this process")
    return await photos.similarities(image_id, candidates)


def _score(lost: LostItem, found: FoundItem, image_sims: dict[int, float], by: int) -> Score:
    image = image_sims.get(by) if lost.reported_image_id is not None else None
    return combine(image, text_similarity(lost.description, found.description).similarity)


async def _pairs(
    session: AsyncSession, lost_ids: Sequence[int], found_ids: Sequence[int]
) -> set[tuple[int, int]]:
    rows = await session.exec(
        select(LostFoundMatch.lost_item_id, LostFoundMatch.found_item_id)
        .where(col(LostFoundMatch.lost_item_id).in_(lost_ids))
        .where(col(LostFoundMatch.found_item_id).in_(found_ids))
    )
    return {(int(a), int(b)) for a, b in rows.all()}


async def _propose(
    session: AsyncSession, pairs: list[tuple[LostItem, FoundItem, Score]]
) -> list[LostFoundMatch]:
    """New proposals for ``pairs`` not decided or proposed before; their reports become
    ``matched``. Commits."""
    if not pairs:
        return []
    known = await _pairs(
        session,
        [p[0].id for p in pairs if p[0].id is not None],
        [p[1].id for p in pairs if p[1].id is not None],
    )
    made: list[LostFoundMatch] = []
    for lost, found, score in pairs:
        assert lost.id is not None  # noqa: S101 - stored rows
        assert found.id is not None  # noqa: S101
        if (lost.id, found.id) in known:
            continue
        match = LostFoundMatch(
            lost_item_id=lost.id,
            found_item_id=found.id,
            score=score.score,
            image_similarity=score.image,
            text_similarity=score.text,
        )
        session.add(match)
        made.append(match)
        if lost.status == "open":
            await move_lost(session, lost, "matched", SYSTEM_ACTOR)
    await session.commit()
    return made


async def propose_for_lost(
    session_factory: SessionFactory, photos: PhotoIndex | None, lost_item_id: int
) -> list[LostFoundMatch]:
    """Score a report against every open found item; store the new proposals (at most
    MAX_PROPOSALS best). Returns the report's proposed matches, best first."""
    async with session_factory() as session:
        lost = await get_lost(session, lost_item_id)
        if lost.status not in MATCHABLE_LOST:
            raise HotelError(409, "lost_item_id", f"the report is {lost.status}: nothing to match")
        found = list(
            (
                await session.exec(
                    select(FoundItem).where(col(FoundItem.status).in_(MATCHABLE_FOUND))
                )
            ).all()
        )
    sims = await _image_sims(photos, lost.reported_image_id, [f.image_id for f in found])
    by_id = {f.id: f for f in found if f.id is not None}
    scores = {fid: _score(lost, f, sims, f.image_id) for fid, f in by_id.items()}
    async with session_factory() as session:
        lost = await get_lost(session, lost_item_id)
        await _propose(session, [(lost, by_id[fid], s) for fid, s in best(scores)])
        return [
            m
            for m in await matches_of(session, lost_item_id=lost_item_id)
            if m.status == "proposed"
        ]


async def propose_for_found(
    session_factory: SessionFactory, photos: PhotoIndex | None, found_item_id: int
) -> list[LostFoundMatch]:
    """Score a newly found item against every open report; store the new proposals (the
    MAX_PROPOSALS best reports). Returns the found item's proposed matches, best first."""
    async with session_factory() as session:
        found = await get_found(session, found_item_id)
        if found.status not in MATCHABLE_FOUND:
            raise HotelError(409, "found_item_id", f"the item is {found.status}: nothing to match")
        reports = list(
            (
                await session.exec(select(LostItem).where(col(LostItem.status).in_(MATCHABLE_LOST)))
            ).all()
        )
    with_photo = [r.reported_image_id for r in reports if r.reported_image_id is not None]
    sims = await _image_sims(photos, found.image_id if with_photo else None, with_photo)
    by_id = {r.id: r for r in reports if r.id is not None}
    scores = {rid: _score(r, found, sims, r.reported_image_id or 0) for rid, r in by_id.items()}
    async with session_factory() as session:
        found = await get_found(session, found_item_id)
        chosen = best(scores, MAX_PROPOSALS)
        fresh = {rid: await get_lost(session, rid) for rid, _ in chosen}
        await _propose(session, [(fresh[rid], found, s) for rid, s in chosen])
        return [
            m
            for m in await matches_of(session, found_item_id=found_item_id)
            if m.status == "proposed"
        ]


# ---- decisions --------------------------------------------------------------------------------


async def get_match(session: AsyncSession, match_id: int) -> LostFoundMatch:
    row = await session.get(LostFoundMatch, match_id)
    if row is None:
        raise not_found("match_id", "match", match_id)
    return row


async def _decide(match: LostFoundMatch, wanted: str, actor: str) -> None:
    check_move("match", MATCH_MOVES, match.status, wanted, field="match_id")
    match.status = wanted
    match.decided_at = utcnow()
    match.decided_by = actor[:128]


async def _reopen_if_unmatched(session: AsyncSession, lost: LostItem, actor: str) -> None:
    """A ``matched`` report with no proposal left is ``open`` again."""
    if lost.status != "matched" or lost.id is None:
        return
    left = await session.exec(
        select(LostFoundMatch.id)
        .where(col(LostFoundMatch.lost_item_id) == lost.id)
        .where(col(LostFoundMatch.status) == "proposed")
    )
    if left.first() is None:
        await move_lost(session, lost, "open", actor)


async def _reject_others(
    session: AsyncSession, column: str, value: int, keep: int | None, actor: str
) -> list[int]:
    """Reject the proposals whose ``column`` is ``value`` (except ``keep``); returns the lost
    report ids they named."""
    rows = await session.exec(
        select(LostFoundMatch)
        .where(col(getattr(LostFoundMatch, column)) == value)
        .where(col(LostFoundMatch.status) == "proposed")
    )
    touched: list[int] = []
    for other in rows.all():
        if other.id == keep:
            continue
        await _decide(other, "rejected", actor)
        session.add(other)
        touched.append(other.lost_item_id)
    await session.flush()
    return touched


async def confirm_match(
    session: AsyncSession, match_id: int, actor: str, lost_item_id: int | None = None
) -> tuple[LostItem, FoundItem, LostFoundMatch]:
    """Staff confirm a proposal: the report is ``found`` (with the found item's photo, place
    and time), the item ``claimed``, the other proposals of both rejected. Commits."""
    match = await get_match(session, match_id)
    if lost_item_id is not None and match.lost_item_id != lost_item_id:
        raise HotelError(
            422, "match_id", f"match {match_id} is not a match of lost item {lost_item_id}"
        )
    await lock_row(session, LostItem, match.lost_item_id)
    match = await get_match(session, match_id)
    lost = await get_lost(session, match.lost_item_id)
    found = await get_found(session, match.found_item_id)
    await _decide(match, "confirmed", actor)
    await move_lost(session, lost, "found", actor)
    await move_found(session, found, "claimed", actor)
    lost.found_item_id = found.id
    lost.found_image_key = found.image_key
    lost.match_similarity = match.score
    lost.found_location = found.location
    lost.found_at = found.found_at
    found.lost_item_id = lost.id
    session.add_all([match, lost, found])
    audit(
        session,
        actor=actor[:128],
        action=AuditAction.LOST_FOUND_MATCH_CONFIRM,
        target=f"match:{match.id}",
        detail={"lost_item_id": lost.id, "found_item_id": found.id, "score": match.score},
    )
    assert lost.id is not None  # noqa: S101 - stored rows
    assert found.id is not None  # noqa: S101
    await _reject_others(session, "lost_item_id", lost.id, match.id, actor)
    for other in await _reject_others(session, "found_item_id", found.id, match.id, actor):
        await _reopen_if_unmatched(session, await get_lost(session, other), actor)
    await session.commit()
    return lost, found, match


async def reject_match(session: AsyncSession, match_id: int, actor: str) -> LostFoundMatch:
    """Staff reject a proposal; its report is ``open`` again when no proposal is left."""
    match = await get_match(session, match_id)
    await lock_row(session, LostItem, match.lost_item_id)
    match = await get_match(session, match_id)
    await _decide(match, "rejected", actor)
    session.add(match)
    audit(
        session,
        actor=actor[:128],
        action=AuditAction.LOST_FOUND_MATCH_REJECT,
        target=f"match:{match.id}",
        detail={"lost_item_id": match.lost_item_id, "found_item_id": match.found_item_id},
    )
    await session.flush()
    await _reopen_if_unmatched(session, await get_lost(session, match.lost_item_id), actor)
    await session.commit()
    return match


async def close_lost(session: AsyncSession, lost_item_id: int, actor: str) -> LostItem:
    """The report ends without a return: its proposals are rejected and a claimed found item
    is open again."""
    await lock_row(session, LostItem, lost_item_id)
    lost = await get_lost(session, lost_item_id)
    await move_lost(session, lost, "closed", actor)
    await _reject_others(session, "lost_item_id", lost_item_id, None, actor)
    if lost.found_item_id is not None:
        found = await get_found(session, lost.found_item_id)
        if found.status == "claimed":
            await move_found(session, found, "open", actor)
            found.lost_item_id = None
    await session.commit()
    return lost


async def dispose_found(session: AsyncSession, found_item_id: int, actor: str) -> FoundItem:
    """An unclaimed found item leaves the hotel's keeping: its proposals are rejected."""
    await lock_row(session, FoundItem, found_item_id)
    found = await get_found(session, found_item_id)
    await move_found(session, found, "disposed", actor)
    for other in await _reject_others(session, "found_item_id", found_item_id, None, actor):
        await _reopen_if_unmatched(session, await get_lost(session, other), actor)
    await session.commit()
    return found
