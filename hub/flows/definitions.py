"""The Prefect flows: each ``@task`` wraps one step of a flow module (pure logic and I/O live
there; test them with ``.fn()``), each ``@flow`` chains them. I/O tasks retry with backoff.

Parameters are ids and plain values, never personal data (Prefect keeps them in its database).
Imported only when flows run (importing Prefect creates its home directory).
"""

from __future__ import annotations

import datetime as dt
from datetime import date
from typing import Any, Literal

from prefect import flow, task

from hub.flows import (
    gallery_backfill,
    hazard,
    lost_found,
    maintenance,
    notifications,
    pricing,
    report,
    requests,
    room,
    sync,
)
from hub.flows.context import current
from hub.tables import utcnow

BACKOFF_S: list[float] = [2.0, 10.0, 30.0]


def _today() -> date:
    return utcnow().date()


# -- notifications ---------------------------------------------------------------------------


@task(name="notify-late-arrival", retries=3, retry_delay_seconds=BACKOFF_S)
async def notify_late_arrival(attendance_log_id: int) -> dict[str, Any]:
    return await notifications.notify_late_arrival(await current(), attendance_log_id)


@flow(name="late_arrival_notification")
async def late_arrival_notification(attendance_log_id: int) -> dict[str, Any]:
    """A late check-in -> the supervisor's notification."""
    return await notify_late_arrival(attendance_log_id)


@task(name="notify-room-ready", retries=3, retry_delay_seconds=BACKOFF_S)
async def notify_room_ready(booking_id: int) -> dict[str, Any]:
    return await room.notify_room_ready(await current(), booking_id)


@task(name="apply-room-analysis", retries=2, retry_delay_seconds=BACKOFF_S)
async def apply_room_analysis(room_number: str, ready_for_guest: bool) -> dict[str, Any]:
    update = await room.apply_room_analysis(await current(), room_number, ready_for_guest, _today())
    return {
        "room_number": update.room_number,
        "previous": update.previous,
        "status": update.status,
        "waiting_booking_id": update.waiting_booking_id,
    }


@flow(name="room_ready_notification")
async def room_ready_notification(booking_id: int) -> dict[str, Any]:
    """The room of a waiting guest is ready -> the guest's check-in-ready message."""
    return await notify_room_ready(booking_id)


@flow(name="room_cleaning")
async def room_cleaning(room_number: str, ready_for_guest: bool = True) -> dict[str, Any]:
    """A room analysis -> rooms.status -> the waiting guest's message (all steps in Prefect)."""
    update = await apply_room_analysis(room_number, ready_for_guest)
    booking_id = update["waiting_booking_id"]
    if booking_id is not None:
        update["notification"] = await notify_room_ready(booking_id)
    return update


# -- guest requests, lost & found ------------------------------------------------------------


@task(name="route-guest-request", retries=2, retry_delay_seconds=BACKOFF_S)
async def route_guest_request(message: str, booking_id: int | None) -> dict[str, Any]:
    return await requests.route_request(await current(), message, booking_id, _today())


@flow(name="guest_request")
async def guest_request(message: str, booking_id: int | None = None) -> dict[str, Any]:
    """classify -> task assigned to an on-shift staff member -> confirmation to the guest."""
    return await route_guest_request(message, booking_id)


@task(name="propose-lost-item-matches", retries=2, retry_delay_seconds=BACKOFF_S)
async def propose_lost_item_matches(lost_item_id: int) -> dict[str, Any]:
    return await lost_found.propose(await current(), lost_item_id)


@flow(name="lost_and_found")
async def lost_and_found(lost_item_id: int) -> dict[str, Any]:
    """A lost report against the open found items: the hub scores each pair itself (photo
    embeddings and description words) and stores the proposed matches for staff to confirm."""
    return await propose_lost_item_matches(lost_item_id)


# -- hazards -----------------------------------------------------------------------------------


@task(name="escalate-hazards", retries=3, retry_delay_seconds=BACKOFF_S)
async def escalate_hazards(event_ids: list[str]) -> dict[str, Any]:
    return await hazard.escalate(await current(), event_ids)


@flow(name="hazard_escalation")
async def hazard_escalation(event_ids: list[str]) -> dict[str, Any]:
    """Anomaly events -> alerts on every channel (re-sent by hazard_realert until acknowledged)."""
    return await escalate_hazards(event_ids)


@task(name="realert-hazards", retries=2, retry_delay_seconds=BACKOFF_S)
async def realert_hazards() -> dict[str, Any]:
    return await hazard.realert(await current())


@flow(name="hazard_realert")
async def hazard_realert() -> dict[str, Any]:
    return await realert_hazards()


# -- scheduled work ----------------------------------------------------------------------------


@task(name="optimise-prices", retries=1, retry_delay_seconds=BACKOFF_S)
async def optimise_prices(start: date, days: int) -> dict[str, Any]:
    return await pricing.run_daily_pricing(await current(), start, days)


@flow(name="daily_pricing")
async def daily_pricing(start: date | None = None, days: int = 14) -> dict[str, Any]:
    """03:00: optimiser -> business rules -> stored plan -> change log -> summary."""
    return await optimise_prices(start or _today(), days)


@task(name="build-daily-report", retries=2, retry_delay_seconds=BACKOFF_S)
async def build_daily_report(day: date) -> dict[str, Any]:
    return await report.build_report(await current(), day)


@flow(name="daily_report")
async def daily_report(day: date | None = None) -> dict[str, Any]:
    """Occupancy, revenue, housekeeping, attendance and incidents as HTML + PNG charts."""
    return await build_daily_report(day or _today())


@task(name="publish-gallery", retries=2, retry_delay_seconds=BACKOFF_S)
async def publish_gallery(model_id: str, dim: int) -> dict[str, Any]:
    return await maintenance.publish_gallery(await current(), model_id, dim)


GALLERY_MODEL_ID = "dlib-resnet-v1"
GALLERY_DIM = 128


@flow(name="gallery_publish")
async def gallery_publish(
    model_id: str = GALLERY_MODEL_ID, dim: int = GALLERY_DIM
) -> dict[str, Any]:
    return await publish_gallery(model_id, dim)


@task(name="backfill-gallery-model", retries=1, retry_delay_seconds=BACKOFF_S)
async def backfill_gallery_model(model_id: str) -> dict[str, Any]:
    return await gallery_backfill.backfill(await current(), model_id)


@flow(name="gallery_backfill")
async def gallery_backfill_flow(model_id: str) -> dict[str, Any]:
    """Templates of a face model new to the fleet, from the kept enrolment crops."""
    return await backfill_gallery_model(model_id)


@task(name="retrain-models")
async def retrain_models(name: str) -> dict[str, Any]:
    return await maintenance.retrain(await current(), name)


@flow(name="nightly_retrain")
async def nightly_retrain(name: str = "all") -> dict[str, Any]:
    return await retrain_models(name)


@task(name="purge-expired-snapshots", retries=2, retry_delay_seconds=BACKOFF_S)
async def purge_expired_snapshots() -> dict[str, Any]:
    return await maintenance.purge(await current())


@task(name="purge-data-classes", retries=2, retry_delay_seconds=BACKOFF_S)
async def purge_data_classes() -> dict[str, Any]:
    return await maintenance.purge_data_classes(await current())


@flow(name="retention_purge")
async def retention_purge() -> dict[str, Any]:
    """Face snapshots past their retention are deleted from the store, then every other data
    class past its retention (hub/privacy/retention.py); each step leaves an audit row."""
    snapshots = await purge_expired_snapshots()
    return {**snapshots, "classes": await purge_data_classes()}


# -- the seed documents' workflows (issue 13) ----------------------------------------------------

# the ML models (hub/ml/training.py MODEL_NAMES), also as the seeds write them: pricing_model
ModelName = Literal[
    "all",
    "occupancy",
    "revenue",
    "housekeeping_demand",
    "pricing",
    "cancellation",
    "clv",
    "occupancy_model",
    "revenue_model",
    "housekeeping_demand_model",
    "pricing_model",
    "cancellation_model",
    "clv_model",
]


def model_name_of(name: str) -> str:
    """``pricing_model`` -> ``pricing`` (the seeds name models with a ``_model`` suffix)."""
    return name.removesuffix("_model")


@task(name="build-report-sections", retries=2, retry_delay_seconds=BACKOFF_S)
async def build_report_sections(
    day: date, report_types: list[report.ReportType] | None
) -> dict[str, Any]:
    return await report.build_report(await current(), day, report_types)


@flow(name="daily_report_generation")
async def daily_report_generation(
    date: dt.date | None = None, report_types: list[report.ReportType] | None = None
) -> dict[str, Any]:
    """The daily report of ``date`` (default today), with only the ``report_types`` sections
    (occupancy, revenue, housekeeping, attendance, incidents; default all)."""
    return await build_report_sections(date or _today(), report_types)


@flow(name="ml_model_retrain")
async def ml_model_retrain(model_name: ModelName = "all") -> dict[str, Any]:
    """Retrain one model (champion/challenger) or all of them."""
    return await retrain_models(model_name_of(model_name))


@task(name="schedule-item-return", retries=2, retry_delay_seconds=BACKOFF_S)
async def schedule_item_return(lost_item_id: int) -> dict[str, Any]:
    return await lost_found.schedule_return(await current(), lost_item_id)


@flow(name="lost_found_return")
async def lost_found_return(
    lost_item_id: int, match_id: int | None = None, location: str | None = None
) -> dict[str, Any]:
    """Reception confirmed a find: the proposed match ``match_id`` (or, without one, the item
    by hand at ``location``); the guest is told, and a housekeeping task brings the item to
    the guest's room. No similarity is taken from the caller."""
    found = await confirm_lost_item_found(lost_item_id, match_id, location)
    notified = await notify_lost_item_owner(lost_item_id)
    return found | {"notified": notified} | await schedule_item_return(lost_item_id)


@task(name="confirm-lost-item-found")  # no retries: a second confirmation is refused (409)
async def confirm_lost_item_found(
    lost_item_id: int, match_id: int | None, location: str | None
) -> dict[str, Any]:
    return await lost_found.confirm(await current(), lost_item_id, match_id, location)


@task(name="notify-lost-item-owner", retries=2, retry_delay_seconds=BACKOFF_S)
async def notify_lost_item_owner(lost_item_id: int) -> dict[str, Any] | None:
    return await lost_found.notify_owner(await current(), lost_item_id)


@task(name="export-to-warehouse", retries=2, retry_delay_seconds=BACKOFF_S)
async def export_to_warehouse(
    data_type: str, start: date | None, end: date | None
) -> dict[str, Any]:
    return await sync.export_to_warehouse(await current(), data_type, start, end)


@flow(name="data_sync")
async def data_sync(
    source: sync.SyncSource,
    target: sync.SyncTarget,
    data_type: sync.DataType,
    start: date | None = None,
    end: date | None = None,
) -> dict[str, Any]:
    """/pipeline/sync: one data type from a source to a target (hub/flows/sync.py)."""
    sync.check_sync(source, target, data_type, start, end)
    if data_type == "faces":
        result = await publish_gallery(GALLERY_MODEL_ID, GALLERY_DIM)
    else:
        result = await export_to_warehouse(data_type, start, end)
    return {"source": source, "target": target, "data_type": data_type} | result
