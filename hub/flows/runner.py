"""The hub's side of Prefect: deployments, flow runs, schedules and their mirror in
``workflow_logs``. Run state always comes from the Prefect API (a server, or Prefect's local
mode); ``workflow_logs`` only mirrors it for the hub's own queries and keeps each run's result.

Executors (``settings.flows_executor``):

- ``local`` (demo, tests, one-box installs): the hub executes the scheduled runs of its own
  deployments in its event loop: it polls Prefect for due runs (and is woken at once by a
  trigger), and runs each with Prefect's flow engine, which reports every state to the API.
- ``worker``: deployments go to ``settings.flows_work_pool`` and a Prefect worker
  (``compose.hub.yml``) runs them; the hub only creates, reads and cancels runs.

Prefect is imported here lazily: the hub starts without it when flows are disabled.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlmodel import col, select

from hub.db import SessionFactory
from hub.flows.registry import (
    DEFAULT_SCHEDULE_SLUG,
    DEFINITIONS_MODULE,
    ESTIMATE_HISTORY,
    WORKFLOWS,
    spec_of,
)
from hub.settings import HubSettings
from hub.tables import WorkflowLog, utcnow

logger = logging.getLogger(__name__)

DEPLOYMENT_NAME = "innsight"
# parameters that may carry a guest's own words: not copied into workflow_logs
REDACTED_PARAMETERS = frozenset({"message"})
FINAL_STATES = frozenset({"completed", "failed", "cancelled", "crashed"})
ESTIMATE_TTL_S = 60.0


class FlowsError(RuntimeError):
    """Base of the runner's errors (the routes map each to a status)."""


class FlowsUnavailableError(FlowsError):
    """Prefect is not reachable or the deployments are not registered (yet)."""


class InvalidParametersError(FlowsError, ValueError):
    pass


class InvalidScheduleError(FlowsError, ValueError):
    pass


class RunNotFoundError(FlowsError, LookupError):
    pass


class ScheduleNotFoundError(FlowsError, LookupError):
    pass


class RunFinishedError(FlowsError):
    """The run is already in a final state (cannot be cancelled)."""


class ScheduleExistsError(FlowsError):
    """A schedule of that name exists already (for that workflow)."""


RUN_ID_PREFIX = "fr_"


def public_run_id(run_id: uuid.UUID) -> str:
    """The hotel-facing id of a Prefect flow run: ``fr_`` and the UUID's 32 hex digits."""
    return f"{RUN_ID_PREFIX}{run_id.hex}"


def parse_run_id(text: str) -> uuid.UUID:
    """A flow run id as the API takes it: ``fr_<32 hex>`` or Prefect's own UUID; raises
    :class:`RunNotFoundError` for anything else (no such run can exist)."""
    raw = text[len(RUN_ID_PREFIX) :] if text.startswith(RUN_ID_PREFIX) else text
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise RunNotFoundError(
            f"{text!r} is not a flow run id (fr_ and 32 hex digits, or a UUID)"
        ) from None


@dataclass(frozen=True, slots=True)
class Estimate:
    minutes: float
    source: str  # "history" (median of the latest completed runs) or "default"
    runs: int  # how many completed runs it was taken from


@dataclass(frozen=True, slots=True)
class RunInfo:
    flow_run_id: str  # fr_<hex>: public_run_id of prefect_flow_run_id
    prefect_flow_run_id: str
    workflow: str | None
    state: str
    state_name: str
    scheduled_time: datetime | None
    start_time: datetime | None
    end_time: datetime | None
    result: dict[str, Any] | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class ScheduleInfo:
    schedule_id: str
    name: str | None  # the schedule's slug in Prefect
    workflow: str
    cron: str
    timezone: str | None
    active: bool
    parameters: dict[str, Any]
    default: bool


@dataclass
class _Registered:
    deployment_ids: dict[str, uuid.UUID] = field(default_factory=dict)
    flows: dict[str, Any] = field(default_factory=dict)

    def name_of(self, deployment_id: uuid.UUID | None) -> str | None:
        for name, dep in self.deployment_ids.items():
            if dep == deployment_id:
                return name
        return None


def prefect_tls_context() -> ssl.SSLContext:
    """The TLS context Prefect's client would build for itself (see ``FlowRunner._client``)."""
    import certifi
    from prefect.settings import PREFECT_API_SSL_CERT_FILE, PREFECT_API_TLS_INSECURE_SKIP_VERIFY

    if PREFECT_API_TLS_INSECURE_SKIP_VERIFY.value():
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    return ssl.create_default_context(cafile=PREFECT_API_SSL_CERT_FILE.value() or certifi.where())


def mirror_parameters(parameters: dict[str, Any]) -> dict[str, Any]:
    return {k: ("<redacted>" if k in REDACTED_PARAMETERS else v) for k, v in parameters.items()}


def state_of(flow_run: Any) -> tuple[str, str]:
    state = flow_run.state
    if state is None:
        return "scheduled", "Scheduled"
    return str(state.type.value).lower(), str(state.name)


class FlowRunner:
    def __init__(
        self,
        settings: HubSettings,
        session_factory: SessionFactory,
        *,
        default_schedules: bool = True,
    ) -> None:
        self._settings = settings
        self._sessions = session_factory
        self._default_schedules = default_schedules
        self._registered = _Registered()
        self._ready = asyncio.Event()
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._active: dict[uuid.UUID, asyncio.Task[None]] = {}
        # estimates per workflow (status polling reads them often): kept ESTIMATE_TTL_S, and
        # dropped when a run of the workflow finishes here, so the next answer counts it
        self._estimates: dict[str, tuple[Estimate, float]] = {}
        self.error: str | None = None
        self._tls: ssl.SSLContext | None = None
        # local executor: whether this replica executes the due runs now (API replicas: only
        # the holder of the leader lease does, hub/cluster/leader.py; the others skip a poll)
        self.executes: Callable[[], bool] = lambda: True

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def executor(self) -> str:
        return self._settings.flows_executor

    @property
    def ready(self) -> bool:
        return self._ready.is_set()

    def _client(self) -> Any:
        """A Prefect client for one exchange, on this runner's TLS context. Prefect's
        ``get_client()`` builds a new ``ssl.SSLContext`` from certifi's CA bundle for every
        client it makes: ~30 ms of CPU inside the event loop, every ``flows_poll_interval_s``
        for the poll loop and once per flow route, seen in py-spy dumps of a stalled trigger.
        The context is built once, with the same rules (``PREFECT_API_TLS_INSECURE_SKIP_VERIFY``,
        ``PREFECT_API_SSL_CERT_FILE``, else certifi)."""
        from prefect.client.orchestration import get_client

        if self._tls is None:
            self._tls = prefect_tls_context()
        return get_client(httpx_settings={"verify": self._tls})

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="hub-flow-runner")

    async def wait_ready(self, timeout_s: float) -> bool:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._ready.wait(), timeout_s)
        return self._ready.is_set()

    async def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        tasks = [t for t in (self._task, *self._active.values()) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._task = None

    async def _run(self) -> None:
        delay = 1.0
        while not self._stopping.is_set():
            try:
                await self._register()
            except Exception as err:  # noqa: BLE001 - reported by /health, retried
                self.error = f"{type(err).__name__}: {str(err)[:300]}"
                logger.warning("Prefect deployments not registered (%s); retrying", self.error)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), delay)
                delay = min(delay * 2, 60.0)
                continue
            self.error = None
            self._ready.set()
            break
        if self.executor == "local":
            await self._poll_loop()

    async def _register(self) -> None:
        import importlib

        from prefect.client.schemas.actions import DeploymentScheduleCreate
        from prefect.client.schemas.schedules import CronSchedule
        from prefect.types.entrypoint import EntrypointType

        definitions = importlib.import_module(DEFINITIONS_MODULE)
        pool = self._settings.flows_work_pool if self.executor == "worker" else None
        registered = _Registered()
        async with self._client() as client:
            for spec in WORKFLOWS.values():
                flow = getattr(definitions, spec.attribute)
                deployment = await flow.ato_deployment(
                    name=DEPLOYMENT_NAME,
                    description=spec.description,
                    tags=["innsight"],
                    work_pool_name=pool,
                    entrypoint_type=EntrypointType.MODULE_PATH,
                )
                deployment_id = await deployment.apply()
                registered.deployment_ids[spec.name] = deployment_id
                registered.flows[spec.name] = flow
                if self._default_schedules and spec.default_cron:
                    existing = await client.read_deployment_schedules(deployment_id)
                    if not any(s.slug == DEFAULT_SCHEDULE_SLUG for s in existing):
                        schedule = CronSchedule(
                            cron=spec.default_cron, timezone=self._settings.timezone
                        )
                        await client.create_deployment_schedules(
                            deployment_id,
                            [
                                DeploymentScheduleCreate(
                                    schedule=schedule, active=True, slug=DEFAULT_SCHEDULE_SLUG
                                )
                            ],
                        )
        self._registered = registered
        logger.info("registered %d Prefect deployments", len(registered.deployment_ids))

    # -- local executor ----------------------------------------------------------------------

    async def _poll_loop(self) -> None:
        interval = self._settings.flows_poll_interval_s
        while not self._stopping.is_set():
            self._wake.clear()
            try:
                due = await self._due() if self.executes() else []
                for flow_run in due:
                    if flow_run.id not in self._active:
                        self._active[flow_run.id] = asyncio.create_task(
                            self._execute(flow_run), name=f"flow-run-{flow_run.id}"
                        )
            except Exception as err:  # noqa: BLE001 - the loop must survive an API outage
                logger.warning("polling Prefect for due runs failed: %s", type(err).__name__)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), interval)

    async def _due(self) -> list[Any]:
        async with self._client() as client:
            due: list[Any] = await client.get_scheduled_flow_runs_for_deployments(
                list(self._registered.deployment_ids.values()),
                scheduled_before=datetime.now(UTC) + timedelta(milliseconds=200),
            )
        return due

    async def _execute(self, flow_run: Any) -> None:
        from prefect.flow_engine import run_flow_async

        name = self._registered.name_of(flow_run.deployment_id)
        flow = self._registered.flows.get(name or "")
        try:
            if flow is None:
                return
            await self._mirror(flow_run.id, name, status="running")
            state: Any = await run_flow_async(
                flow, flow_run=flow_run, parameters=dict(flow_run.parameters), return_type="state"
            )
            result: dict[str, Any] | None = None
            error: str | None = None
            if state.is_completed():
                value = await state.result(raise_on_failure=False)
                result = value if isinstance(value, dict) else {"value": repr(value)[:500]}
            else:
                error = str(state.message or state.name)[:2000]
            await self._mirror(
                flow_run.id,
                name,
                status=str(state.type.value).lower(),
                result=result,
                error=error,
                finished=True,
            )
        except asyncio.CancelledError:
            await self._mirror(flow_run.id, name, status="cancelled", finished=True)
            raise
        except Exception:
            logger.exception("flow run %s of %s could not be executed", flow_run.id, name)
        finally:
            self._active.pop(flow_run.id, None)

    # -- workflow_logs mirror ------------------------------------------------------------------

    async def _mirror(
        self,
        run_id: uuid.UUID,
        name: str | None,
        *,
        status: str,
        parameters: dict[str, Any] | None = None,
        result: dict[str, Any] | None = None,
        error: str | None = None,
        finished: bool = False,
        started_at: datetime | None = None,
    ) -> None:
        try:
            async with self._sessions() as session:
                row = (
                    await session.exec(select(WorkflowLog).where(WorkflowLog.run_id == str(run_id)))
                ).first()
                if row is None:
                    row = WorkflowLog(
                        flow_name=name or "unknown",
                        run_id=str(run_id),
                        status=status,
                        parameters=mirror_parameters(parameters or {}),
                    )
                row.status = status[:16]
                if status == "running":
                    row.started_at = utcnow()  # the run's start, not its creation
                elif started_at is not None:
                    row.started_at = started_at
                if result is not None:
                    row.result = result
                if error is not None:
                    row.error = error
                if finished:
                    row.finished_at = utcnow()
                session.add(row)
                await session.commit()
            if finished:
                self._estimates.pop(row.flow_name, None)
        except Exception:
            logger.exception("workflow_logs mirror of run %s failed", run_id)

    async def mirrored(self, run_id: str) -> WorkflowLog | None:
        """The workflow_logs row of a run (``run_id``: fr_<hex> or Prefect's UUID)."""
        key = str(parse_run_id(run_id))
        async with self._sessions() as session:
            row: WorkflowLog | None = (
                await session.exec(select(WorkflowLog).where(WorkflowLog.run_id == key))
            ).first()
            return row

    async def estimate(self, name: str) -> Estimate:
        """How long a run of ``name`` takes: the median of its latest completed runs in
        workflow_logs (start to finish), else the workflow's documented default."""
        spec = spec_of(name)
        cached = self._estimates.get(name)
        if cached is not None and cached[1] > time.monotonic():
            return cached[0]
        async with self._sessions() as session:
            rows = await session.exec(
                select(WorkflowLog.started_at, WorkflowLog.finished_at)
                .where(
                    WorkflowLog.flow_name == name,
                    WorkflowLog.status == "completed",
                    col(WorkflowLog.finished_at).is_not(None),
                )
                .order_by(col(WorkflowLog.finished_at).desc())
                .limit(ESTIMATE_HISTORY)
            )
            spans = sorted(
                max((finished - started).total_seconds(), 0.0) / 60.0
                for started, finished in rows.all()
                if finished is not None
            )
        if not spans:
            estimate = Estimate(spec.default_minutes, "default", 0)
        else:
            middle = len(spans) // 2
            median = spans[middle] if len(spans) % 2 else (spans[middle - 1] + spans[middle]) / 2
            estimate = Estimate(round(median, 3), "history", len(spans))
        self._estimates[name] = (estimate, time.monotonic() + ESTIMATE_TTL_S)
        return estimate

    # -- operations --------------------------------------------------------------------------

    def _deployment(self, name: str) -> tuple[uuid.UUID, Any]:
        spec_of(name)  # UnknownWorkflowError first
        deployment_id = self._registered.deployment_ids.get(name)
        if deployment_id is None:
            raise FlowsUnavailableError(
                self.error or "the Prefect deployments are not registered yet; retry shortly"
            )
        return deployment_id, self._registered.flows[name]

    @staticmethod
    def _validate(flow: Any, parameters: dict[str, Any]) -> dict[str, Any]:
        from prefect.exceptions import ParameterTypeError, SignatureMismatchError

        try:
            flow.validate_parameters(parameters)
        except (ParameterTypeError, SignatureMismatchError) as err:
            raise InvalidParametersError(str(err)) from err
        return parameters

    async def trigger(
        self,
        name: str,
        parameters: dict[str, Any] | None = None,
        scheduled_time: datetime | None = None,
    ) -> RunInfo:
        from prefect.states import Scheduled

        deployment_id, flow = self._deployment(name)
        params = self._validate(flow, dict(parameters or {}))
        state: Any = Scheduled(scheduled_time=scheduled_time) if scheduled_time else Scheduled()
        try:
            async with self._client() as client:
                flow_run = await client.create_flow_run_from_deployment(
                    deployment_id, parameters=params, state=state, tags=["innsight", "api"]
                )
        except Exception as err:
            raise FlowsUnavailableError(f"Prefect refused the run: {type(err).__name__}") from err
        await self._mirror(flow_run.id, name, status="scheduled", parameters=params)
        self._wake.set()
        return self._info(flow_run, name)

    def _info(self, flow_run: Any, name: str | None, row: WorkflowLog | None = None) -> RunInfo:
        state, state_name = state_of(flow_run)
        return RunInfo(
            flow_run_id=public_run_id(flow_run.id),
            prefect_flow_run_id=str(flow_run.id),
            workflow=name,
            state=state,
            state_name=state_name,
            scheduled_time=flow_run.expected_start_time,
            start_time=flow_run.start_time,
            end_time=flow_run.end_time,
            result=row.result if row is not None else None,
            error=row.error if row is not None else None,
        )

    async def _read(self, run_id: str) -> Any:
        from prefect.exceptions import ObjectNotFound

        key = parse_run_id(run_id)
        try:
            async with self._client() as client:
                return await client.read_flow_run(key)
        except ObjectNotFound:
            raise RunNotFoundError(f"no flow run {run_id}") from None
        except Exception as err:
            raise FlowsUnavailableError(f"Prefect unreachable: {type(err).__name__}") from err

    async def status(self, run_id: str) -> RunInfo:
        flow_run = await self._read(run_id)
        name = self._registered.name_of(flow_run.deployment_id)
        row = await self.mirrored(str(flow_run.id))
        info = self._info(flow_run, name, row)
        if row is not None and row.status != info.state and info.state in FINAL_STATES:
            await self._mirror(
                flow_run.id,
                name,
                status=info.state,
                finished=True,
                started_at=flow_run.start_time,
            )
        return info

    async def wait(self, run_id: str, timeout_s: float, poll_s: float = 0.1) -> RunInfo:
        """Until the run is final (for tests and the benchmark); raises TimeoutError."""
        deadline = asyncio.get_running_loop().time() + timeout_s
        while True:
            info = await self.status(run_id)
            if info.state in FINAL_STATES:
                row = await self.mirrored(run_id)
                if self.executor == "worker" or (row is not None and row.finished_at):
                    return self._with_row(info, row)
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"flow run {run_id} still {info.state}")
            await asyncio.sleep(poll_s)

    @staticmethod
    def _with_row(info: RunInfo, row: WorkflowLog | None) -> RunInfo:
        if row is None:
            return info
        return replace(info, result=row.result, error=row.error)

    async def cancel(self, run_id: str) -> RunInfo:
        from prefect.states import Cancelled, Cancelling

        flow_run = await self._read(run_id)
        state, state_name = state_of(flow_run)
        if state in FINAL_STATES:
            raise RunFinishedError(f"flow run {run_id} already finished ({state_name})")
        name = self._registered.name_of(flow_run.deployment_id)
        local = self._active.get(flow_run.id)
        running_elsewhere = state == "running" and local is None
        new_state: Any = (
            Cancelling() if running_elsewhere else Cancelled(message="cancelled via API")
        )
        async with self._client() as client:
            await client.set_flow_run_state(flow_run.id, new_state, force=True)
        if local is not None:
            local.cancel()
        await self._mirror(
            flow_run.id,
            name,
            status="cancelling" if running_elsewhere else "cancelled",
            finished=not running_elsewhere,
        )
        return await self.status(run_id)

    # -- schedules -----------------------------------------------------------------------------

    async def create_schedule(
        self,
        name: str,
        cron: str,
        timezone: str | None = None,
        parameters: dict[str, Any] | None = None,
        active: bool = True,
        slug: str | None = None,
    ) -> ScheduleInfo:
        """A cron schedule of workflow ``name``; ``slug``: the schedule's own name (unique
        per workflow: :class:`ScheduleExistsError` when taken)."""
        from prefect.client.schemas.actions import DeploymentScheduleCreate
        from prefect.client.schemas.schedules import CronSchedule
        from pydantic import ValidationError

        deployment_id, flow = self._deployment(name)
        try:
            schedule = CronSchedule(cron=cron, timezone=timezone or self._settings.timezone)
        except ValidationError as err:
            reasons = "; ".join(str(e.get("msg", "invalid")) for e in err.errors())
            raise InvalidScheduleError(reasons) from None
        params = self._validate(flow, dict(parameters or {}))
        async with self._client() as client:
            if slug is not None:
                existing = await client.read_deployment_schedules(deployment_id)
                if any(s.slug == slug for s in existing):
                    raise ScheduleExistsError(f"workflow {name} has a schedule named {slug!r}")
            created = await client.create_deployment_schedules(
                deployment_id,
                [
                    DeploymentScheduleCreate(
                        schedule=schedule, active=active, parameters=params, slug=slug
                    )
                ],
            )
        return self._schedule_info(name, created[0])

    @staticmethod
    def _schedule_info(name: str, schedule: Any) -> ScheduleInfo:
        inner = schedule.schedule
        return ScheduleInfo(
            schedule_id=str(schedule.id),
            name=schedule.slug,
            workflow=name,
            cron=str(getattr(inner, "cron", "")),
            timezone=getattr(inner, "timezone", None),
            active=bool(schedule.active),
            parameters=dict(schedule.parameters or {}),
            default=schedule.slug == DEFAULT_SCHEDULE_SLUG,
        )

    async def list_schedules(self) -> list[ScheduleInfo]:

        if not self.ready:
            raise FlowsUnavailableError(self.error or "the Prefect deployments are not registered")
        out: list[ScheduleInfo] = []
        async with self._client() as client:
            for name, deployment_id in sorted(self._registered.deployment_ids.items()):
                for schedule in await client.read_deployment_schedules(deployment_id):
                    out.append(self._schedule_info(name, schedule))
        return out

    async def delete_schedule(self, schedule_id: str) -> ScheduleInfo:

        for info in await self.list_schedules():
            if info.schedule_id == schedule_id:
                async with self._client() as client:
                    await client.delete_deployment_schedule(
                        self._registered.deployment_ids[info.workflow], uuid.UUID(schedule_id)
                    )
                return info
        raise ScheduleNotFoundError(f"no schedule {schedule_id}")

    # -- health ------------------------------------------------------------------------------

    async def health(self) -> dict[str, Any]:
        from prefect.settings import PREFECT_API_URL

        api_error: str | None = None
        try:
            async with self._client() as client:
                problem = await client.api_healthcheck()
            if problem is not None:
                api_error = f"{type(problem).__name__}"
        except Exception as err:  # noqa: BLE001 - health reports any failure
            api_error = type(err).__name__
        return {
            "api_url": PREFECT_API_URL.value() or "ephemeral",
            "api_error": api_error,
            "deployments": len(self._registered.deployment_ids),
            "registered": self.ready,
            "registration_error": self.error,
            "executor": self.executor,
            "active_runs": len(self._active),
        }

    async def recent(self, limit: int = 50) -> list[WorkflowLog]:
        async with self._sessions() as session:
            rows = await session.exec(
                select(WorkflowLog).order_by(col(WorkflowLog.started_at).desc()).limit(limit)
            )
            return list(rows.all())
