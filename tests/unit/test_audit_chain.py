"""The audit hash chain's pure part: the row hash and the walk that names the first bad row."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

from hub.audit_chain import GENESIS, ChainRow, row_hash, verify_chain

T0 = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)


def chain(n: int) -> tuple[list[ChainRow], tuple[int, str]]:
    rows: list[ChainRow] = []
    prev = GENESIS
    for i in range(1, n + 1):
        at = T0 + timedelta(seconds=i)
        target = f"employee:E{i}"
        detail = {"faces": i, "score": 0.5}
        digest = row_hash(
            seq=i,
            at=at,
            actor="user:a",
            action="face.enroll",
            target=target,
            detail=detail,
            prev_hash=prev,
        )
        rows.append(ChainRow(i + 10, i, at, "user:a", "face.enroll", target, detail, prev, digest))
        prev = digest
    return rows, (n, prev)


def test_an_intact_chain_verifies_and_key_order_or_naive_utc_do_not_matter() -> None:
    rows, head = chain(5)
    assert verify_chain(rows, head).ok
    shuffled = [
        dataclasses.replace(r, detail=dict(reversed(list((r.detail or {}).items())))) for r in rows
    ]
    assert verify_chain(list(reversed(shuffled)), head).ok
    naive = [dataclasses.replace(r, at=r.at.replace(tzinfo=None)) for r in rows]
    assert verify_chain(naive, head).ok
    # numbers as a database may hand them back (a whole float as an int)
    assert row_hash(
        seq=1, at=T0, actor="a", action="b", target="c", detail={"n": 2.0}, prev_hash=GENESIS
    ) == row_hash(
        seq=1, at=T0, actor="a", action="b", target="c", detail={"n": 2}, prev_hash=GENESIS
    )
    assert verify_chain([], None).ok


def test_edited_deleted_inserted_and_truncated_rows_are_named() -> None:
    rows, head = chain(5)
    edited = list(rows)
    edited[2] = dataclasses.replace(rows[2], target="employee:SOMEONE")
    report = verify_chain(edited, head)
    assert report.bad_row_id == 13
    assert report.problem is not None
    assert "(seq 3)" in report.problem
    assert "edited" in report.problem

    report = verify_chain(rows[:1] + rows[2:], head)
    assert report.bad_row_id == 13
    assert "seq 2 missing" in str(report.problem)

    report = verify_chain(rows[:3], head)
    assert report.bad_row_id is None
    assert "rows 4..5 deleted" in str(report.problem)

    forged = dataclasses.replace(rows[1], id=99)
    report = verify_chain([*rows, forged], head)
    assert "appears twice" in str(report.problem)

    relinked = list(rows)
    relinked[3] = dataclasses.replace(rows[3], prev_hash="f" * 64)
    assert "previous hash" in str(verify_chain(relinked, head).problem)

    assert "head row" in str(verify_chain(rows, None).problem)


def test_rows_from_before_the_chain_are_counted_not_failed() -> None:
    rows, head = chain(2)
    legacy = ChainRow(1, None, T0, "user:a", "user.create", "user:x", {}, None, None)
    report = verify_chain([legacy, *rows], head)
    assert report.ok
    assert (report.rows, report.unchained) == (3, 1)
