"""What the ``/api/v1/llm`` routes share: the request base model, the dependencies (the
assistant, the runtime, the caller) and the ``innsight_llm_*`` metrics of the app."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, Security
from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, field_validator

from hub.api.auth import Principal, authorize
from hub.api.deps import HubRuntime, get_runtime
from hub.api.params import storable_text, to_utc
from hub.assistant.actions import ActionStore, action_specs
from hub.assistant.metrics import LlmMetrics
from hub.assistant.service import AssistantService, LLMUnavailableError
from hub.assistant.tools import ActionProposer
from hub.auth.scopes import Scope

MIN_YEAR, MAX_YEAR = 1970, 9000

Caller = Annotated[Principal, Security(authorize, scopes=[Scope.LLM_USE])]
FlowsCaller = Annotated[Principal, Security(authorize, scopes=[Scope.FLOWS_RUN])]


def _storable(value: Any) -> Any:
    """:func:`storable_text` through nested dicts and lists (keys included)."""
    if isinstance(value, dict):
        return {_storable(k): _storable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_storable(v) for v in value]
    return storable_text(value)


def _utc_time(value: datetime) -> datetime:
    utc = to_utc(value)
    if utc is None or not MIN_YEAR <= utc.year <= MAX_YEAR:
        raise ValueError(f"must be between the years {MIN_YEAR} and {MAX_YEAR}")
    return utc


UtcTime = Annotated[AwareDatetime, AfterValidator(_utc_time)]


class In(BaseModel):
    """Request bodies: unknown fields refused; text a database can store (no NUL, no lone
    surrogates), a 422 naming the field otherwise."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="before")
    @classmethod
    def _storable_text(cls, value: Any) -> Any:
        return _storable(value)


def get_assistant(request: Request) -> AssistantService:
    service: AssistantService | None = getattr(request.app.state, "assistant", None)
    if service is None:
        raise HTTPException(status_code=503, detail="the assistant is not running")
    return service


Assistant = Annotated[AssistantService, Depends(get_assistant)]
Runtime = Annotated[HubRuntime, Depends(get_runtime)]


def llm_metrics(request: Request) -> LlmMetrics:
    """The app's :class:`LlmMetrics`, registered on its HTTP registry on first use (there is no
    ``await`` between the look-up and the registration: one event loop cannot race it)."""
    found: LlmMetrics | None = getattr(request.app.state, "llm_metrics", None)
    if found is None:
        found = LlmMetrics(request.app.state.http_registry)
        request.app.state.llm_metrics = found
    return found


Metrics = Annotated[LlmMetrics, Depends(llm_metrics)]


@contextmanager
def observed(metrics: LlmMetrics, endpoint: str) -> Iterator[None]:
    """Count the request (ok | unavailable | error) and time it."""
    started = time.perf_counter()
    outcome = "error"
    try:
        yield
        outcome = "ok"
    except HTTPException as err:
        outcome = "unavailable" if err.status_code == 503 else "error"
        raise
    except LLMUnavailableError:
        outcome = "unavailable"
        raise
    finally:
        metrics.requests.labels(endpoint, outcome).inc()
        metrics.duration.labels(endpoint).observe(time.perf_counter() - started)


def proposer_of(runtime: HubRuntime) -> ActionProposer:
    store = ActionStore(runtime.session_factory, ttl_s=runtime.settings.llm_action_ttl_s)
    return ActionProposer(action_specs(runtime.session_factory), store)


def unavailable(err: LLMUnavailableError) -> HTTPException:
    return HTTPException(status_code=503, detail=str(err))
