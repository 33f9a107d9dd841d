"""The daily report: occupancy, revenue, housekeeping, attendance and incidents of one day, as
an HTML page with PNG charts (matplotlib, Agg) in the object store."""

from __future__ import annotations

import asyncio
import html
import io
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import func
from sqlmodel import col, select

from hub.flows.context import FlowDeps
from hub.tables import AnomalyDetection, AttendanceLog, Booking, HazardAlert, HousekeepingTask, Room

_STAYING = ("reserved", "checked_in", "checked_out")


@dataclass(frozen=True, slots=True)
class DailyFigures:
    day: date
    rooms_total: int
    rooms_occupied: int
    revenue: float
    currency: str
    tasks_open: int
    tasks_done: int
    present: int
    late: int
    incidents: int

    @property
    def occupancy(self) -> float:
        return self.rooms_occupied / self.rooms_total if self.rooms_total else 0.0


async def gather(deps: FlowDeps, day: date) -> DailyFigures:
    start = datetime.combine(day, time(), tzinfo=UTC)
    end = start + timedelta(days=1)
    async with deps.session_factory() as session:
        rooms_total = (await session.exec(select(func.count()).select_from(Room))).one()
        stays = (
            await session.exec(
                select(Booking).where(
                    col(Booking.check_in_date) <= day,
                    col(Booking.check_out_date) > day,
                    col(Booking.status).in_(_STAYING),
                )
            )
        ).all()
        tasks = (
            await session.exec(
                select(HousekeepingTask.status, func.count()).group_by(col(HousekeepingTask.status))
            )
        ).all()
        attendance = (
            await session.exec(
                select(AttendanceLog.status, func.count())
                .where(AttendanceLog.work_date == day)
                .group_by(col(AttendanceLog.status))
            )
        ).all()
        anomalies = (
            await session.exec(
                select(func.count())
                .select_from(AnomalyDetection)
                .where(
                    col(AnomalyDetection.detected_at) >= start,
                    col(AnomalyDetection.detected_at) < end,
                )
            )
        ).one()
        alerts = (
            await session.exec(
                select(func.count())
                .select_from(HazardAlert)
                .where(col(HazardAlert.detected_at) >= start, col(HazardAlert.detected_at) < end)
            )
        ).one()
    task_counts = dict(tasks)
    att = dict(attendance)
    return DailyFigures(
        day=day,
        rooms_total=int(rooms_total),
        rooms_occupied=len({b.room_id for b in stays if b.room_id is not None}),
        revenue=round(sum(float(b.rate_per_night) for b in stays), 2),
        currency=stays[0].currency if stays else "USD",
        tasks_open=sum(int(n) for s, n in task_counts.items() if s != "done"),
        tasks_done=int(task_counts.get("done", 0)),
        present=sum(int(n) for n in att.values()),
        late=int(att.get("late", 0)),
        incidents=max(int(anomalies), int(alerts)),
    )


def render_charts(figures: DailyFigures) -> dict[str, bytes]:
    """PNG charts (pure: matplotlib's object API with the Agg canvas, no global state)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    def png(fig: Figure) -> bytes:
        FigureCanvasAgg(fig)
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=80)
        return buffer.getvalue()

    charts: dict[str, bytes] = {}
    fig = Figure(figsize=(4, 3))
    ax = fig.add_subplot()
    free = max(figures.rooms_total - figures.rooms_occupied, 0)
    ax.bar(["occupied", "free"], [figures.rooms_occupied, free], color=["#2a7", "#ccc"])
    ax.set_title(f"Occupancy {figures.occupancy:.0%}")
    charts["occupancy.png"] = png(fig)
    fig = Figure(figsize=(4, 3))
    ax = fig.add_subplot()
    ax.bar(
        ["open tasks", "done tasks", "present", "late", "incidents"],
        [figures.tasks_open, figures.tasks_done, figures.present, figures.late, figures.incidents],
        color=["#e92", "#2a7", "#27c", "#c33", "#933"],
    )
    ax.tick_params(axis="x", labelrotation=30)
    ax.set_title("Operations")
    fig.tight_layout()
    charts["operations.png"] = png(fig)
    return charts


def render_html(figures: DailyFigures, chart_files: list[str]) -> str:
    rows = [
        ("Occupancy", f"{figures.occupancy:.1%} ({figures.rooms_occupied}/{figures.rooms_total})"),
        ("Room revenue", f"{figures.revenue:,.2f} {figures.currency}"),
        ("Housekeeping", f"{figures.tasks_open} open, {figures.tasks_done} done"),
        ("Attendance", f"{figures.present} present, {figures.late} late"),
        ("Incidents", str(figures.incidents)),
    ]
    body = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in rows)
    images = "".join(
        f'<img src="{html.escape(name)}" alt="{html.escape(name)}">' for name in chart_files
    )
    day = html.escape(figures.day.isoformat())
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>Daily report {day}</title>"
        f"</head><body><h1>Daily report {day}</h1><table>{body}</table>{images}</body></html>"
    )


async def build_report(deps: FlowDeps, day: date) -> dict[str, Any]:
    figures = await gather(deps, day)
    charts = await asyncio.to_thread(render_charts, figures)
    prefix = f"reports/{day.isoformat()}"
    for name, data in charts.items():
        await asyncio.to_thread(deps.store.put, f"{prefix}/{name}", data, "image/png")
    page = render_html(figures, sorted(charts))
    await asyncio.to_thread(deps.store.put, f"{prefix}/report.html", page.encode(), "text/html")
    summary = asdict(figures) | {"occupancy": round(figures.occupancy, 4)}
    summary["day"] = day.isoformat()
    return {
        "html": f"{prefix}/report.html",
        "charts": [f"{prefix}/{n}" for n in sorted(charts)],
        "figures": summary,
    }
