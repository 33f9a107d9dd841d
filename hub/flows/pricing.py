"""Daily pricing (03:00): run the optimiser for every room type, check the plan against the
business rules, keep it (the optimiser stores it in ``ml_predictions``), log the changes, and
send the revenue manager a summary."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlmodel import select

from hub.flows.context import FlowDeps
from hub.flows.maintenance import DependencyUnavailableError
from hub.flows.notifications import Target, deliver
from hub.tables import Room, ServiceLog

logger = logging.getLogger(__name__)

SERVICE = "flows.daily_pricing"
CHANGE_EPSILON = 0.005  # a relative change below half a percent is not a change
TOLERANCE = 0.01  # currency rounding


@dataclass(frozen=True, slots=True)
class NightPrice:
    night: date
    price: float
    previous: float


def rule_violations(
    nights: Sequence[NightPrice], floor: float, ceiling: float, max_daily_change: float
) -> list[str]:
    """Every night whose price breaks a business rule (pure)."""
    problems = []
    for n in nights:
        if n.price < floor - TOLERANCE:
            problems.append(f"{n.night}: {n.price:.2f} below the floor {floor:.2f}")
        if n.price > ceiling + TOLERANCE:
            problems.append(f"{n.night}: {n.price:.2f} above the ceiling {ceiling:.2f}")
        if n.previous > 0 and abs(n.price / n.previous - 1.0) > max_daily_change + 1e-6 + (
            TOLERANCE / n.previous
        ):
            problems.append(
                f"{n.night}: change {n.price / n.previous - 1.0:+.1%} over {max_daily_change:.0%}"
            )
    return problems


def changes(nights: Sequence[NightPrice]) -> list[NightPrice]:
    return [
        n for n in nights if n.previous > 0 and abs(n.price / n.previous - 1.0) >= CHANGE_EPSILON
    ]


async def run_daily_pricing(deps: FlowDeps, start: date, days: int) -> dict[str, Any]:
    if deps.ml is None:
        raise DependencyUnavailableError("the ML service is not configured")
    ml = deps.ml.get()
    async with deps.session_factory() as session:
        room_types = sorted(set((await session.exec(select(Room.room_type))).all()))
    end = start + timedelta(days=days - 1)
    per_type: dict[str, Any] = {}
    logs: list[ServiceLog] = []
    total_revenue = 0.0
    total_changes = 0
    for room_type in room_types:
        result = await ml.optimize_prices(room_type, start, end)
        nights = [NightPrice(i.date, i.price, i.previous_price) for i in result.items]
        problems = rule_violations(
            nights, result.rules.floor, result.rules.ceiling, result.rules.max_daily_change
        )
        changed = changes(nights)
        total_changes += len(changed)
        total_revenue += result.expected_revenue
        per_type[room_type] = {
            "nights": len(nights),
            "changes": len(changed),
            "violations": problems,
            "expected_revenue": result.expected_revenue,
        }
        for n in changed:
            logs.append(
                ServiceLog(
                    service=SERVICE,
                    level="INFO",
                    message="price changed",
                    context={
                        "room_type": room_type,
                        "night": n.night.isoformat(),
                        "previous": n.previous,
                        "price": n.price,
                    },
                )
            )
        for problem in problems:
            logs.append(
                ServiceLog(
                    service=SERVICE,
                    level="WARNING",
                    message="business rule broken",
                    context={"room_type": room_type, "problem": problem},
                )
            )
    async with deps.session_factory() as session:
        session.add_all(logs)
        await session.commit()
    summary = {
        "start": start.isoformat(),
        "end": end.isoformat(),
        "room_types": per_type,
        "changes": total_changes,
        "expected_revenue": round(total_revenue, 2),
    }
    targets = []
    if deps.notifier.has("mqtt"):
        targets.append(Target("mqtt", "revenue_manager", "role:revenue_manager"))
    if deps.settings.attendance_notify_email and deps.notifier.has("email"):
        targets.append(Target("email", deps.settings.attendance_notify_email, "role:manager"))
    if targets:
        summary["notified"] = await deliver(
            deps,
            "pricing_summary",
            {
                "nights": str(days),
                "room_types": str(len(room_types)),
                "changes": str(total_changes),
                "expected_revenue": f"{total_revenue:,.2f}",
            },
            targets,
        )
    return summary
