"""The assistant graph (wiring only): model node <-> tool node, bounded by ``max_steps``.

The chat model is injected (:func:`build_chat_model` makes the real one; tests pass a fake).
Tools a role may not use are never bound; a call to one anyway gets an error tool message.
With a checkpointer the conversation is remembered per thread (see memory.py); the model sees
the last :data:`HISTORY_TURNS` questions of it."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Sequence
from typing import Any, Literal

import httpx
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    AnyMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.runnables import RunnableConfig
from langchain_core.tools import BaseTool
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.prebuilt import ToolNode

from hub.assistant.answers import AssistantAnswer as AssistantAnswer
from hub.assistant.answers import StreamEvent as StreamEvent
from hub.assistant.context import AskerContext
from hub.assistant.data import HotelData
from hub.assistant.grounding import grounding
from hub.assistant.prompts import system_prompt
from hub.assistant.state import AssistantState
from hub.assistant.tools import PENDING, TOOL_TABLES, ActionProposer, tools_for
from hub.settings import HubSettings

DEFAULT_MAX_STEPS = 6
HISTORY_TURNS = 10
STEP_LIMIT_ANSWER = "I could not finish answering within the allowed number of steps."


def build_chat_model(settings: HubSettings) -> BaseChatModel:
    """The chat model of ``settings.llm_provider``: Ollama's API or an OpenAI-compatible one."""
    if settings.llm_provider == "openai":
        from langchain_openai import ChatOpenAI

        return ChatOpenAI(
            model=settings.llm_model,
            base_url=settings.llm_openai_base_url,
            api_key=settings.llm_api_key or "not-needed",
            timeout=settings.llm_timeout_s,
            max_retries=0,
            # our own client (not langchain-openai's process-wide one), closed with the hub
            http_async_client=httpx.AsyncClient(timeout=settings.llm_timeout_s),
        )
    from langchain_ollama import ChatOllama

    return ChatOllama(
        model=settings.llm_model,
        base_url=settings.llm_base_url,
        client_kwargs={"timeout": settings.llm_timeout_s},
    )


async def close_chat_model(model: BaseChatModel) -> None:
    """Close the HTTP connections of a chat model :func:`build_chat_model` made."""
    clients = [
        getattr(model, "http_async_client", None),  # ChatOpenAI (ours, see above)
        getattr(getattr(model, "_async_client", None), "_client", None),  # ChatOllama's httpx
    ]
    for client in clients:
        if isinstance(client, httpx.AsyncClient):
            await client.aclose()


def recent_history(messages: Sequence[AnyMessage], turns: int = HISTORY_TURNS) -> list[AnyMessage]:
    """The messages from the ``turns``-th last question on (a turn starts at a human message,
    so a tool message is never cut from the call that asked for it)."""
    starts = [i for i, m in enumerate(messages) if isinstance(m, HumanMessage)]
    window = list(messages) if len(starts) <= turns else list(messages[starts[-turns] :])
    # a turn cut at the step limit left tool calls without results: model APIs refuse those
    answered = {m.tool_call_id for m in window if isinstance(m, ToolMessage)}
    return [
        AIMessage(content=m.text or STEP_LIMIT_ANSWER)
        if isinstance(m, AIMessage)
        and m.tool_calls
        and any(call["id"] not in answered for call in m.tool_calls)
        and m is not window[-1]
        else m
        for m in window
    ]


def build_graph(
    model: BaseChatModel,
    tools: list[BaseTool],
    context: AskerContext,
    *,
    max_steps: int = DEFAULT_MAX_STEPS,
    checkpointer: BaseCheckpointSaver[str] | None = None,
) -> CompiledStateGraph[Any, Any, Any, Any]:
    bound = model.bind_tools(tools) if tools else model
    prompt = SystemMessage(system_prompt(context))

    async def call_model(state: AssistantState) -> dict[str, Any]:
        reply = await bound.ainvoke([prompt, *recent_history(state["messages"])])
        return {"messages": [reply], "steps": state.get("steps", 0) + 1}

    def route(state: AssistantState) -> Literal["tools", "__end__"]:
        last = state["messages"][-1]
        if isinstance(last, AIMessage) and last.tool_calls and state["steps"] < max_steps:
            return "tools"
        return "__end__"

    graph = StateGraph(AssistantState)
    graph.add_node("model", call_model)
    graph.add_node("tools", ToolNode(tools, handle_tool_errors=True))
    graph.add_edge(START, "model")
    graph.add_conditional_edges("model", route, ["tools", END])
    graph.add_edge("tools", "model")
    return graph.compile(checkpointer=checkpointer)


async def ask_stream(
    model: BaseChatModel,
    data: HotelData,
    context: AskerContext,
    question: str,
    *,
    proposer: ActionProposer | None = None,
    checkpointer: BaseCheckpointSaver[str] | None = None,
    thread_id: str | None = None,
    max_steps: int = DEFAULT_MAX_STEPS,
) -> AsyncIterator[StreamEvent]:
    """Run the graph on one question: tokens as the model writes them, each tool call and
    result, and last the ``final`` answer (sources are this turn's tool results)."""
    tools = tools_for(data, context, proposer)
    graph = build_graph(model, tools, context, max_steps=max_steps, checkpointer=checkpointer)
    config: RunnableConfig = {"recursion_limit": 2 * max_steps + 2}
    if checkpointer is not None:
        config["configurable"] = {"thread_id": thread_id or uuid.uuid4().hex}
    turn: list[AnyMessage] = []
    seen: list[AnyMessage] = []  # the whole conversation state (remembered turns included)
    streamed_tokens = False
    stream: AsyncIterator[Any] = graph.astream(
        {"messages": [HumanMessage(question)], "steps": 0},
        config=config,
        stream_mode=["messages", "updates", "values"],
    )
    async for mode, chunk in stream:
        if mode == "values":
            seen = list(chunk.get("messages", []))
            continue
        if mode == "messages":
            message, meta = chunk
            if (
                isinstance(message, AIMessageChunk | AIMessage)
                and meta.get("langgraph_node") == "model"
                and message.text
            ):
                streamed_tokens = True
                yield StreamEvent("token", {"text": message.text})
            continue
        for node, update in chunk.items():
            new = list((update or {}).get("messages", []))
            turn.extend(new)
            for message in new:
                if node == "model" and isinstance(message, AIMessage):
                    for call in message.tool_calls:
                        yield StreamEvent("tool_call", {"name": call["name"], "args": call["args"]})
                elif isinstance(message, ToolMessage):
                    yield StreamEvent(
                        "tool_result",
                        {
                            "name": message.name or "unknown",
                            "status": message.status,
                            "result": _parsed(message.content),
                        },
                    )
    answer = shape_answer(turn, question=question, window=recent_history(seen))
    if not streamed_tokens and answer.response:
        yield StreamEvent("token", {"text": answer.response})
    yield StreamEvent("final", answer_dict(answer))


async def ask(
    model: BaseChatModel,
    data: HotelData,
    context: AskerContext,
    question: str,
    *,
    proposer: ActionProposer | None = None,
    checkpointer: BaseCheckpointSaver[str] | None = None,
    thread_id: str | None = None,
    max_steps: int = DEFAULT_MAX_STEPS,
) -> AssistantAnswer:
    """Run the graph on one question and shape the answer (sources are the tool results)."""
    final: dict[str, Any] | None = None
    async for event in ask_stream(
        model,
        data,
        context,
        question,
        proposer=proposer,
        checkpointer=checkpointer,
        thread_id=thread_id,
        max_steps=max_steps,
    ):
        if event.event == "final":
            final = event.data
    assert final is not None  # noqa: S101 - ask_stream always ends with it
    return AssistantAnswer(**final)


def shape_answer(
    messages: Sequence[AnyMessage],
    *,
    question: str = "",
    window: Sequence[AnyMessage] | None = None,
) -> AssistantAnswer:
    """The answer of one turn's messages: text, the tables its tools read as sources, pending
    actions, and how far the tool results the model saw (``window``: the conversation it was
    given, this turn included) back the answer's claims."""
    sources: list[dict[str, Any]] = []
    used: list[str] = []
    pending: list[dict[str, Any]] = []
    errors: list[str] = []
    tokens = {"input_tokens": 0, "output_tokens": 0}
    for message in messages:
        if isinstance(message, AIMessage) and message.usage_metadata:
            tokens["input_tokens"] += message.usage_metadata.get("input_tokens", 0)
            tokens["output_tokens"] += message.usage_metadata.get("output_tokens", 0)
        if not isinstance(message, ToolMessage):
            continue
        name = message.name or "unknown"
        result = _parsed(message.content)
        if message.status == "error" or (isinstance(result, dict) and "error" in result):
            errors.append(name)
            continue
        used.append(name)
        if isinstance(result, dict) and result.get("status") == PENDING:
            pending.append({k: result[k] for k in ("action_id", "tool", "args", "summary")})
            pending[-1]["expires_at"] = result.get("expires_at")
            continue
        sources.extend(
            {"type": "database", "table": table, "tool": name, "result": result}
            for table in TOOL_TABLES.get(name, ("unknown",))
        )
    last = messages[-1] if messages else None
    if last is None:
        text = ""
    elif isinstance(last, AIMessage) and last.tool_calls:
        text = STEP_LIMIT_ANSWER
    else:
        text = last.text if isinstance(last, AIMessage) else str(last.content)
    evidence = [
        _parsed(m.content)
        for m in (messages if window is None else [*window, *messages])
        if isinstance(m, ToolMessage) and m.status != "error"
    ]
    grounded = grounding(text, question, evidence, logprobs=_logprobs(last))
    usage = {**tokens, "tool_calls": len(used), "tool_errors": errors}
    return AssistantAnswer(
        text, sources, sorted(set(used)), grounded.confidence, pending, grounded.as_dict(), usage
    )


def _logprobs(message: AnyMessage | None) -> list[float] | None:
    """The token log-probabilities of a reply when the provider returned them (OpenAI's
    ``logprobs.content``); None otherwise."""
    if not isinstance(message, AIMessage):
        return None
    raw = message.response_metadata.get("logprobs")
    content = raw.get("content") if isinstance(raw, dict) else None
    if not isinstance(content, list):
        return None
    values = [float(t["logprob"]) for t in content if isinstance(t, dict) and "logprob" in t]
    return values or None


def answer_dict(answer: AssistantAnswer) -> dict[str, Any]:
    return {
        "response": answer.response,
        "sources": answer.sources,
        "tools_used": answer.tools_used,
        "confidence": answer.confidence,
        "pending_actions": answer.pending_actions,
        "grounding": answer.grounding,
        "usage": answer.usage,
    }


def _parsed(content: Any) -> Any:
    if isinstance(content, str):
        try:
            return json.loads(content)
        except ValueError:
            return content
    return content
