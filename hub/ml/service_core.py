"""The ML service's shared part: history cache, promoted models, prediction log, request checks."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Final

from hub.db import SessionFactory
from hub.ml import repository as repo
from hub.ml import training
from hub.ml.config import MLConfig
from hub.ml.errors import (
    InvalidInputError,
    ModelNotTrainedError,
    NotFoundError,
)
from hub.ml.history import History
from hub.ml.registry import ModelStore
from hub.tables import MLModelRecord

logger = logging.getLogger(__name__)

TRAIN_HINT: Final = "run `innsight ml train --model {name}` or POST /api/v1/ml/retrain/{name}"
ALL_ROOM_TYPES: Final = "all"


def utc_today() -> date:
    return datetime.now(UTC).date()


@dataclass
class _Cache:
    key: tuple[Any, ...] | None = None
    history: History | None = None
    models: dict[tuple[str, str], Any] = field(default_factory=dict)


class ServiceCore:
    """The ML service's shared part: the booking history (cached until the database changes),
    the promoted models, the prediction log and the checks of a request's dates, room type
    and guest. The operations (forecasts, pricing, guests, recommendations, training) extend it."""

    def __init__(
        self,
        session_factory: SessionFactory,
        models_dir: Path,
        config: MLConfig | None = None,
        *,
        today: Callable[[], date] = utc_today,
    ) -> None:
        self._sessions = session_factory
        self._store = ModelStore(models_dir)
        self.config = config or MLConfig()
        self._today = today
        self._cache = _Cache()
        self._history_lock = asyncio.Lock()
        self._train_lock = asyncio.Lock()

    # -- infrastructure ----------------------------------------------------------------------

    def today(self) -> date:
        return self._today()

    async def history(self) -> History:
        """The booking history as known today (reloaded when the database changed)."""
        today = self._today()
        async with self._history_lock:
            async with self._sessions() as session:
                key = (today, *(await repo.fingerprint(session)))
                if self._cache.key == key and self._cache.history is not None:
                    return self._cache.history
                history = await repo.load_history(session, today)
            self._cache.key, self._cache.history = key, history
            logger.info("loaded the booking history: %d bookings", len(history.bookings))
            return history

    async def _model(self, name: str) -> tuple[Any, MLModelRecord]:
        async with self._sessions() as session:
            record = await repo.promoted(session, name)
        if record is None:
            raise ModelNotTrainedError(
                f"no {name} model is trained yet: it needs "
                f"{training.requirement(name, self.config)}; {training.train_hint(name)}"
            )
        key = (name, record.version)
        if key not in self._cache.models:
            artefact = await asyncio.to_thread(self._store.load, record.path, record.sha256)
            self._cache.models = {k: v for k, v in self._cache.models.items() if k[0] != name}
            self._cache.models[key] = artefact
        return self._cache.models[key], record

    async def _log(self, rows: list[dict[str, Any]]) -> None:
        async with self._sessions() as session:
            await repo.log_predictions(session, rows)

    # -- validation --------------------------------------------------------------------------

    def _check_range(
        self,
        start: date,
        end: date,
        *,
        first_field: str = "start_date",
        last_field: str = "end_date",
    ) -> None:
        today = self._today()
        if end < start:
            raise InvalidInputError(
                f"{last_field} ({end}) is before {first_field} ({start})", field=last_field
            )
        days = (end - start).days + 1
        if days > self.config.max_range_days:
            raise InvalidInputError(
                f"the range covers {days} days; at most {self.config.max_range_days}",
                field=last_field,
            )
        if start < today:
            raise InvalidInputError(
                f"{first_field} ({start}) is in the past: forecasts start today ({today})",
                field=first_field,
            )
        furthest = today + timedelta(days=self.config.forecast.max_horizon_days - 1)
        if end > furthest:
            raise InvalidInputError(
                f"{last_field} ({end}) is beyond the forecast horizon ({furthest})",
                field=last_field,
            )

    @staticmethod
    def _check_room_type(history: History, room_type: str, field: str = "room_type") -> None:
        if room_type not in history.capacity():
            known = ", ".join(history.room_types) or "none"
            raise NotFoundError(f"unknown room type {room_type!r} (known: {known})", field=field)

    async def _guest_id(self, guest_ref: str) -> int:
        async with self._sessions() as session:
            guest_id = await repo.guest_id_of(session, guest_ref)
        if guest_id is None:
            raise NotFoundError(f"no guest with guest_id {guest_ref!r}", field="guest_id")
        return guest_id

    async def _guest_history(self, guest_ref: str) -> tuple[History, History]:
        guest_id = await self._guest_id(guest_ref)
        history = await self.history()
        mine = history.bookings["guest_id"] == guest_id
        services = history.services[history.services["guest_id"] == guest_id]
        sub = History(
            bookings=history.bookings[mine].reset_index(drop=True),
            rooms=history.rooms,
            services=services.reset_index(drop=True),
            as_of=history.as_of,
            currency=history.currency,
        )
        return history, sub
