"""Retraining, model status and ML health (the ML service's part)."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime

from hub.ml import repository as repo
from hub.ml import training
from hub.ml.errors import (
    InsufficientHistoryError,
)
from hub.ml.history import History
from hub.ml.results import (
    MLHealth,
    ModelStatus,
    RetrainOutcome,
    RetrainResult,
)
from hub.ml.service_core import TRAIN_HINT, ServiceCore
from hub.tables import Booking, MLModelRecord, MLPrediction

logger = logging.getLogger(__name__)


class TrainingOps(ServiceCore):
    """Retraining (champion/challenger), the models' status and the ML health."""

    async def retrain(self, name: str) -> RetrainResult:
        """Retrain ``name``: ``all``, a seed model name (``pricing_model``, ``churn_model``,
        ...; see :data:`training.SEED_MODEL_NAMES`) or a hub model name."""
        names = list(training.models_for(name))
        outcomes = []
        async with self._train_lock:
            history = await self.history()
            for model_name in names:
                try:
                    outcomes.append(await self._retrain_one(model_name, history))
                except InsufficientHistoryError as err:
                    if len(names) == 1:
                        raise
                    outcomes.append(
                        RetrainOutcome(name=model_name, status="skipped", reason=err.reason)
                    )
        return RetrainResult(model_name=name, models=names, outcomes=outcomes)

    async def _retrain_one(self, name: str, history: History) -> RetrainOutcome:
        started = time.perf_counter()
        async with self._sessions() as session:
            current = await repo.promoted(session, name)
        candidate = await asyncio.to_thread(training.train_candidate, name, history, self.config)
        data_window = training.data_used(history, candidate.window)
        champion_score, rescored = await self._champion_score(current, candidate, history)
        decision = training.decide(candidate, champion_score, rescored)
        data, sha = self._store.dump(candidate.artefact)
        now = datetime.now(UTC)
        version = f"{now:%Y%m%dT%H%M%S%f}-{sha[:8]}"
        path = await asyncio.to_thread(self._store.save, name, version, data)
        metrics = {k: float(v) for k, v in candidate.metrics.items()}
        if champion_score is not None:
            metrics[f"current_{candidate.objective.metric}"] = float(champion_score)
        record = MLModelRecord(
            name=name,
            version=version,
            path=path,
            sha256=sha,
            metrics=metrics,
            params=self.config.model_dump(mode="json") | {"data": data_window},
            train_start=candidate.window.train_start,
            train_end=candidate.window.train_end,
            eval_start=candidate.window.eval_start,
            eval_end=candidate.window.eval_end,
            promoted=decision.promote,
            promoted_at=now if decision.promote else None,
            decision=decision.reason,
        )
        async with self._sessions() as session:
            await repo.add_record(session, record)
        if decision.promote:
            self._cache.models = {k: v for k, v in self._cache.models.items() if k[0] != name}
            self._cache.models[(name, version)] = candidate.artefact
        seconds = time.perf_counter() - started
        logger.info("retrained %s in %.1f s: %s", name, seconds, decision.reason)
        return RetrainOutcome(
            name=name,
            status="promoted" if decision.promote else "kept_current",
            version=version,
            reason=decision.reason,
            metrics=metrics,
            window=candidate.window.as_dict(),
            data=data_window,
            previous_version=current.version if current else None,
            seconds=round(seconds, 2),
        )

    async def _champion_score(
        self, current: MLModelRecord | None, candidate: training.Trained, history: History
    ) -> tuple[float | None, bool]:
        if current is None:
            return None, False
        metric = candidate.objective.metric
        stored = current.metrics.get(metric)
        if current.train_end < candidate.window.eval_start:
            try:
                artefact = await asyncio.to_thread(self._store.load, current.path, current.sha256)
                scores = await asyncio.to_thread(
                    training.rescore, current.name, artefact, history, self.config
                )
                if metric in scores:
                    return float(scores[metric]), True
            except Exception as err:  # noqa: BLE001 - a broken champion is replaced, not fatal
                logger.warning("could not rescore the current %s model: %s", current.name, err)
                return None, False
        return (float(stored), False) if stored is not None else (None, False)

    # -- status ------------------------------------------------------------------------------

    async def model_statuses(self) -> list[ModelStatus]:
        async with self._sessions() as session:
            promoted = await repo.all_promoted(session)
        out = []
        for name in training.MODEL_NAMES:
            record = promoted.get(name)
            metric = training.objective_of(name, self.config).metric
            if record is None:
                out.append(
                    ModelStatus(
                        name=name,
                        trained=False,
                        metric=metric,
                        needs=training.requirement(name, self.config),
                    )
                )
                continue
            out.append(
                ModelStatus(
                    name=name,
                    trained=True,
                    version=record.version,
                    promoted_at=record.promoted_at,
                    metric=metric,
                    score=record.metrics.get(metric),
                    window={
                        "train_start": record.train_start.isoformat(),
                        "train_end": record.train_end.isoformat(),
                        "eval_start": record.eval_start.isoformat(),
                        "eval_end": record.eval_end.isoformat(),
                    },
                    data=dict(record.params.get("data") or {}),
                    needs=training.requirement(name, self.config),
                )
            )
        return out

    async def health(self) -> MLHealth:
        started = time.perf_counter()
        async with self._sessions() as session:
            bookings = await repo.count_rows(session, Booking)
        latency_ms = round((time.perf_counter() - started) * 1000, 1)
        statuses = await self.model_statuses()
        history = await self.history() if bookings else None
        missing = [s.name for s in statuses if not s.trained]
        reason = None
        if not bookings:
            reason = (
                "no bookings: import them (`innsight hub import bookings FILE`, the PMS sync) "
                "or run `innsight ml generate`"
            )
        elif missing:
            reason = f"not trained: {', '.join(missing)} ({TRAIN_HINT.format(name='all')})"
        return MLHealth(
            status="healthy" if reason is None else "degraded",
            timestamp=datetime.now(UTC),
            checks={
                "database": {"status": "ok", "latency_ms": latency_ms},
                "bookings": {"status": "ok" if bookings else "error", "count": bookings},
                "models": {s.name: "loaded" if s.trained else "not_trained" for s in statuses},
            },
            reason=reason,
            models=statuses,
            bookings=bookings,
            first_night=history.first_night.date() if history is not None else None,
            as_of=self._today(),
        )

    async def predictions_logged(self) -> int:
        async with self._sessions() as session:
            return await repo.count_rows(session, MLPrediction)
