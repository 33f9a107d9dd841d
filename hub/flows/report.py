"""The daily report: occupancy, revenue, housekeeping, attendance and incidents of one day, as
an HTML page with PNG charts (matplotlib, Agg) in the object store. ``report_types`` (the
seeds' ``daily_report_generation`` parameter) limits the report to some of those sections."""

from __future__ import annotations

import asyncio
import html
import io
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal, get_args

from sqlalchemy import func
from sqlmodel import col, select

from hub.flows.context import FlowDeps
from hub.tables import AnomalyDetection, AttendanceLog, Booking, HazardAlert, HousekeepingTask, Room

_STAYING = ("reserved", "checked_in", "checked_out")

ReportType = Literal["occupancy", "revenue", "housekeeping", "attendance", "incidents"]
REPORT_TYPES: tuple[str, ...] = get_args(ReportType)
# the figures of each section (``day`` is always reported)
SECTION_FIGURES: dict[str, tuple[str, ...]] = {
    "occupancy": ("rooms_total", "rooms_occupied", "occupancy"),
    "revenue": ("revenue", "currency"),
    "housekeeping": ("tasks_open", "tasks_done"),
    "attendance": ("present", "late"),
    "incidents": ("incidents",),
}


def sections_of(report_types: Sequence[str] | None) -> tuple[str, ...]:
    """The sections to report, in report order; ``None`` or empty: all of them. Raises
    ValueError for a name that is not a section."""
    if not report_types:
        return REPORT_TYPES
    unknown = sorted(set(report_types) - set(REPORT_TYPES))
    if unknown:
        raise ValueError(
            f"unknown report types {', '.join(unknown)}; known: {', '.join(REPORT_TYPES)}"
        )
    return tuple(t for t in REPORT_TYPES if t in report_types)


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


def render_charts(
    figures: DailyFigures, sections: Sequence[str] = REPORT_TYPES
) -> dict[str, bytes]:
    """PNG charts of the sections asked for (pure: matplotlib's object API with the Agg
    canvas, no global state)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    def png(fig: Figure) -> bytes:
        FigureCanvasAgg(fig)
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=80)
        return buffer.getvalue()

    charts: dict[str, bytes] = {}
    if "occupancy" in sections:
        fig = Figure(figsize=(4, 3))
        ax = fig.add_subplot()
        free = max(figures.rooms_total - figures.rooms_occupied, 0)
        ax.bar(["occupied", "free"], [figures.rooms_occupied, free], color=["#2a7", "#ccc"])
        ax.set_title(f"Occupancy {figures.occupancy:.0%}")
        charts["occupancy.png"] = png(fig)
    bars = {
        "housekeeping": [
            ("open tasks", figures.tasks_open, "#e92"),
            ("done tasks", figures.tasks_done, "#2a7"),
        ],
        "attendance": [("present", figures.present, "#27c"), ("late", figures.late, "#c33")],
        "incidents": [("incidents", figures.incidents, "#933")],
    }
    shown = [bar for section, items in bars.items() if section in sections for bar in items]
    if shown:
        fig = Figure(figsize=(4, 3))
        ax = fig.add_subplot()
        ax.bar([b[0] for b in shown], [b[1] for b in shown], color=[b[2] for b in shown])
        ax.tick_params(axis="x", labelrotation=30)
        ax.set_title("Operations")
        fig.tight_layout()
        charts["operations.png"] = png(fig)
    return charts


def render_html(
    figures: DailyFigures, chart_files: list[str], sections: Sequence[str] = REPORT_TYPES
) -> str:
    every = {
        "occupancy": (
            "Occupancy",
            f"{figures.occupancy:.1%} ({figures.rooms_occupied}/{figures.rooms_total})",
        ),
        "revenue": ("Room revenue", f"{figures.revenue:,.2f} {figures.currency}"),
        "housekeeping": ("Housekeeping", f"{figures.tasks_open} open, {figures.tasks_done} done"),
        "attendance": ("Attendance", f"{figures.present} present, {figures.late} late"),
        "incidents": ("Incidents", str(figures.incidents)),
    }
    rows = [every[s] for s in REPORT_TYPES if s in sections]
    body = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in rows)
    images = "".join(
        f'<img src="{html.escape(name)}" alt="{html.escape(name)}">' for name in chart_files
    )
    day = html.escape(figures.day.isoformat())
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>Daily report {day}</title>"
        f"</head><body><h1>Daily report {day}</h1><table>{body}</table>{images}</body></html>"
    )


async def build_report(
    deps: FlowDeps, day: date, report_types: Sequence[str] | None = None
) -> dict[str, Any]:
    sections = sections_of(report_types)
    figures = await gather(deps, day)
    charts = await asyncio.to_thread(render_charts, figures, sections)
    prefix = f"reports/{day.isoformat()}"
    for name, data in charts.items():
        await asyncio.to_thread(deps.store.put, f"{prefix}/{name}", data, "image/png")
    page = render_html(figures, sorted(charts), sections)
    await asyncio.to_thread(deps.store.put, f"{prefix}/report.html", page.encode(), "text/html")
    every = asdict(figures) | {"occupancy": round(figures.occupancy, 4)}
    summary: dict[str, Any] = {"day": day.isoformat()}
    for section in sections:
        summary |= {name: every[name] for name in SECTION_FIGURES[section]}
    return {
        "html": f"{prefix}/report.html",
        "charts": [f"{prefix}/{n}" for n in sorted(charts)],
        "figures": summary,
        "report_types": list(sections),
    }
