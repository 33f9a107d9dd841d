"""Time to interactive of the staff console's Today page, through Debian's Chromium, on loopback,
with 10k camera events (and 50 rooms, 200 bookings, 20 devices, 100 open alerts) in the hub's
database: from ``page.goto`` to ``<body data-ready="1">`` (the page's data fetched and drawn).

    .venv/bin/python -m benchmarks.console_today [--events 10000] [--runs 15]

Prints the median and p90 of the wall clock (Python side) and of the browser's own
``performance.now()`` at ready. Target (issue 18): ≤ 1 s.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

from sqlalchemy import insert

from hub.auth.keys import with_secrets
from hub.crypto import PiiCipher, bind_pii_cipher
from hub.db import create_engine
from hub.settings import HubSettings
from hub.tables import Booking, Device, Event, Guest, HazardAlert, Room, utcnow
from testkit.browser import chromium, console_hub, new_context, open_page, sign_in_with_token
from testkit.machine import describe_machine

TARGET_S = 1.0


async def seed(settings: HubSettings, events: int) -> None:
    settings = with_secrets(settings)  # the hub's own PII key: guests' names are encrypted
    engine = create_engine(settings.database_url.get_secret_value())
    bind_pii_cipher(engine, PiiCipher.from_secret(settings.pii_key))
    now = utcnow()
    today = date.today()
    async with engine.begin() as conn:
        await conn.execute(
            insert(Room),
            [
                {
                    "room_number": f"{100 + i}",
                    "room_type": "double",
                    "floor": 1 + i // 10,
                    "status": "available",
                    "capacity": 2,
                    "base_rate": Decimal("80.00"),
                    "amenities": [],
                    "created_at": now,
                    "updated_at": now,
                }
                for i in range(50)
            ],
        )
        await conn.execute(
            insert(Guest),
            [{"full_name": f"Guest {i}", "created_at": now, "updated_at": now} for i in range(200)],
        )
        await conn.execute(
            insert(Booking),
            [
                {
                    "booking_ref": f"BK{i:05d}",
                    "guest_id": i + 1,
                    "room_id": (i % 50) + 1,
                    "check_in_date": today - timedelta(days=i % 5),
                    "check_out_date": today + timedelta(days=1 + i % 3),
                    "status": "reserved",
                    "adults": 2,
                    "children": 0,
                    "rate_per_night": Decimal("80.00"),
                    "total_amount": Decimal("160.00"),
                    "currency": "VND",
                    "channel": "direct",
                    "created_at": now,
                    "updated_at": now,
                }
                for i in range(200)
            ],
        )
        await conn.execute(
            insert(Device),
            [
                {
                    "device_id": f"edge-{i}",
                    "site": "demo",
                    "status": "online",
                    "last_seen": now,
                    "last_seq": events,
                    "last_heartbeat": {"cameras": {"c1": {"fps": 10.0}}, "outbox_depth": 0},
                    "created_at": now,
                }
                for i in range(20)
            ],
        )
        batch = []
        ids = []
        for i in range(events):
            event_id = uuid.uuid4()
            anomaly = i % 100 == 0
            if anomaly:
                ids.append(event_id)
            started = now - timedelta(seconds=i * 17)
            batch.append(
                {
                    "event_id": event_id,
                    "device_id": f"edge-{i % 20}",
                    "seq": i + 1,
                    "last_seq": i + 1,
                    "camera_id": f"cam-{i % 40}",
                    "kind": "anomaly" if anomaly else "face",
                    "phase": "end",
                    "started_at": started,
                    "person_id": None,
                    "score": 0.8,
                    "payload": {"type": "smoke", "zone": f"zone-{i}"} if anomaly else {},
                    "messages": 1,
                    "received_at": started,
                    "updated_at": started,
                }
            )
            if len(batch) == 2000:
                await conn.execute(insert(Event), batch)
                batch = []
        if batch:
            await conn.execute(insert(Event), batch)
        await conn.execute(
            insert(HazardAlert),
            [
                {
                    "event_id": event_id,
                    "hazard": "smoke",
                    "location": f"zone-{n}",
                    "detected_at": now,
                    "sends": 1,
                    "created_at": now,
                }
                for n, event_id in enumerate(ids)
            ],
        )
    await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, console_hub(Path(tmp), with_broker=False) as hub:
        asyncio.run(seed(hub.hub.settings, args.events))
        with chromium() as browser:
            context = new_context(browser, "desktop")
            page = context.new_page()
            sign_in_with_token(page, hub, "manager")
            open_page(page, hub.base_url, "today")  # warm: the browser's cache of the assets
            wall: list[float] = []
            browser_ms: list[float] = []
            for _ in range(args.runs):
                started = time.perf_counter()
                open_page(page, hub.base_url, "today")
                wall.append(time.perf_counter() - started)
                browser_ms.append(float(page.get_attribute("body", "data-ready-ms") or "nan"))
            figure = page.inner_text("#today-events")
            context.close()
    deciles = statistics.quantiles(wall, n=10)
    print(f"machine: {describe_machine()}")
    print(f"console Today with {args.events} events in the DB ({figure}); {args.runs} loads")
    print(
        f"time to interactive, wall: median {statistics.median(wall) * 1000:.0f} ms, "
        f"p90 {deciles[-1] * 1000:.0f} ms, max {max(wall) * 1000:.0f} ms"
    )
    print(
        f"time to interactive, browser performance.now(): median "
        f"{statistics.median(browser_ms):.0f} ms"
    )
    verdict = "within" if statistics.median(wall) <= TARGET_S else "OVER"
    print(f"target ≤ {TARGET_S * 1000:.0f} ms: {verdict}")


if __name__ == "__main__":
    main()
