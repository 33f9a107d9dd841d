"""The assistant under ``/api/v1/llm`` (llm:use): questions over hotel data, guest-request
routing, and the LLM's health. While Ollama is unreachable ``/assistant/query`` answers 503 with
the reason and ``/routing/classify`` answers by rules, saying so."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Request, Security
from pydantic import BaseModel, ConfigDict, Field

from hub.api.auth import Principal, authorize, scoped
from hub.api.deps import HubRuntime, get_runtime
from hub.assistant.context import context_of
from hub.assistant.data import SqlHotelData
from hub.assistant.service import AssistantService, LLMUnavailableError
from hub.auth.scopes import Scope

router = APIRouter(prefix="/api/v1/llm", tags=["llm"], dependencies=[scoped(Scope.LLM_USE)])

Caller = Annotated[Principal, Security(authorize, scopes=[Scope.LLM_USE])]


def get_assistant(request: Request) -> AssistantService:
    service: AssistantService | None = getattr(request.app.state, "assistant", None)
    if service is None:
        raise HTTPException(status_code=503, detail="the assistant is not running")
    return service


Assistant = Annotated[AssistantService, Depends(get_assistant)]
Runtime = Annotated[HubRuntime, Depends(get_runtime)]


class QueryIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    question: str = Field(min_length=1, max_length=4000)
    conversation_id: str | None = Field(default=None, max_length=64)


class QueryOut(BaseModel):
    response: str
    sources: list[dict[str, Any]]
    tools_used: list[str]
    confidence: float


class ClassifyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    message: str = Field(min_length=1, max_length=4000)


class RequestOut(BaseModel):
    room_number: str | None
    items: list[str]
    quantity: int | None
    urgency: str


class ClassifyOut(BaseModel):
    category: str
    priority: str
    assignee_role: str
    request: RequestOut
    answered_by: Literal["rules", "llm"]


class HealthOut(BaseModel):
    reachable: bool
    model: str
    model_present: bool
    base_url: str
    reason: str | None


@router.post("/assistant/query", response_model=QueryOut)
async def assistant_query(
    body: QueryIn, caller: Caller, assistant: Assistant, runtime: Runtime
) -> QueryOut:
    data = SqlHotelData(runtime.session_factory)
    try:
        answer = await assistant.query(data, context_of(caller), body.question)
    except LLMUnavailableError as err:
        raise HTTPException(status_code=503, detail=str(err)) from err
    return QueryOut(
        response=answer.response,
        sources=answer.sources,
        tools_used=answer.tools_used,
        confidence=answer.confidence,
    )


@router.post("/routing/classify", response_model=ClassifyOut)
async def routing_classify(body: ClassifyIn, assistant: Assistant) -> ClassifyOut:
    routing, answered_by = await assistant.route(body.message)
    request = routing.request
    return ClassifyOut(
        category=routing.category,
        priority=routing.priority,
        assignee_role=routing.assignee_role,
        request=RequestOut(
            room_number=request.room_number,
            items=list(request.items),
            quantity=request.quantity,
            urgency=request.urgency,
        ),
        answered_by="llm" if answered_by == "llm" else "rules",
    )


@router.get("/health", response_model=HealthOut)
async def llm_health(assistant: Assistant) -> HealthOut:
    health = await assistant.health()
    return HealthOut(
        reachable=health.reachable,
        model=health.model,
        model_present=health.model_present,
        base_url=health.base_url,
        reason=health.reason,
    )
