"""The PMS sync's pure rules: ordering by the PMS's modification time, the booking status path
through the state machine, the webhook signature and timestamp window, and the ML requirement
texts the 503s carry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from hub.hotel.errors import HotelError
from hub.hotel.pms import check_order, digest_of, status_path
from hub.hotel.pms_webhook import check_delivery_id, sign, verify
from hub.ml.config import MLConfig
from hub.ml.training import days_needed, requirement, train_hint
from hub.tables import PmsRecord

T0 = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)
SECRET = "a-shared-secret-of-some-length"


def _stored(digest: str, at: datetime = T0) -> PmsRecord:
    return PmsRecord(kind="guests", pms_id="P1", local_ref="P1", pms_modified_at=at, digest=digest)


def test_updates_apply_in_the_pms_order() -> None:
    digest = digest_of({"full_name": "A", "vip": None})
    assert digest == digest_of({"vip": None, "full_name": "A"})  # key order does not matter
    assert check_order(None, T0, digest) == "apply"
    assert check_order(_stored(digest), T0, digest) == "unchanged"
    assert check_order(_stored(digest), T0 + timedelta(minutes=1), digest) == "unchanged"
    assert check_order(_stored(digest), T0 - timedelta(seconds=1), digest) == "stale"
    assert check_order(_stored(digest), T0 - timedelta(seconds=1), "other") == "stale"
    assert check_order(_stored(digest), T0 + timedelta(seconds=1), "other") == "apply"
    with pytest.raises(HotelError) as refused:
        check_order(_stored(digest), T0, "other")
    assert (refused.value.status, refused.value.field) == (409, "modified_at")


def test_the_status_path_follows_the_state_machine() -> None:
    assert status_path("reserved", "reserved") == []
    assert status_path("reserved", "booked") == []
    assert status_path("reserved", "checked_in") == ["checked_in"]
    assert status_path("reserved", "checked_out") == ["checked_in", "checked_out"]
    assert status_path("checked_in", "checked_out") == ["checked_out"]
    with pytest.raises(HotelError) as refused:
        status_path("cancelled", "checked_in")
    assert refused.value.status == 409
    assert "none (it is final)" in refused.value.reason
    with pytest.raises(HotelError) as refused:
        status_path("checked_in", "cancelled")
    assert refused.value.allowed == ("checked_out",)
    with pytest.raises(HotelError) as unknown:
        status_path("reserved", "vanished")
    assert unknown.value.status == 422


def test_the_signature_covers_timestamp_and_body_within_the_window() -> None:
    body = b'{"kind": "guests"}'
    stamp = str(int(T0.timestamp()))
    signature = sign(SECRET, stamp, body)
    assert signature.startswith("sha256=")

    def check(**changes: object) -> str:
        args: dict[str, object] = {
            "timestamp": stamp,
            "signature": signature,
            "body": body,
            "now": T0 + timedelta(seconds=299),
            "window_s": 300,
        } | changes
        return verify(SECRET, **args)  # type: ignore[arg-type]

    assert check() == signature.removeprefix("sha256=")
    for changes, field in (
        ({"body": body + b" "}, "X-Innsight-Signature"),
        ({"signature": sign("another-secret-entirely", stamp, body)}, "X-Innsight-Signature"),
        ({"signature": None}, "X-Innsight-Signature"),
        ({"timestamp": str(int(T0.timestamp()) + 1)}, "X-Innsight-Signature"),
        ({"now": T0 + timedelta(seconds=301)}, "X-Innsight-Timestamp"),
        ({"now": T0 - timedelta(seconds=301)}, "X-Innsight-Timestamp"),
        ({"timestamp": "yesterday"}, "X-Innsight-Timestamp"),
        ({"timestamp": None}, "X-Innsight-Timestamp"),
    ):
        with pytest.raises(HotelError) as refused:
            check(**changes)
        assert (refused.value.status, refused.value.field) == (401, field), changes
    assert check_delivery_id(" d-1 ") == "d-1"
    for bad in (None, "", "has space", "x" * 129):
        with pytest.raises(HotelError):
            check_delivery_id(bad)


def test_the_too_little_history_texts_name_the_need_and_the_command() -> None:
    config = MLConfig()
    text = requirement("cancellation", config)
    assert f"{days_needed('cancellation', config)} days of bookings" in text
    assert f"{config.cancellation.min_bookings} resolved" in text
    assert "innsight ml train --model clv" in train_hint("clv")
    assert "innsight hub import bookings" in train_hint("clv")
