"""The assistant graph (wiring only): model node <-> tool node, bounded by ``max_steps``.

The chat model is injected (:func:`build_chat_model` makes the real one; tests pass a fake).
Tools a role may not use are never bound; a call to one anyway gets an error tool message."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.tools import BaseTool
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.prebuilt import ToolNode

from hub.assistant.context import AskerContext
from hub.assistant.data import HotelData
from hub.assistant.prompts import system_prompt
from hub.assistant.state import AssistantState
from hub.assistant.tools import tools_for
from hub.settings import HubSettings

DEFAULT_MAX_STEPS = 6
STEP_LIMIT_ANSWER = "I could not finish answering within the allowed number of steps."


def build_chat_model(settings: HubSettings) -> BaseChatModel:
    from langchain_ollama import ChatOllama

    return ChatOllama(
        model=settings.llm_model,
        base_url=settings.llm_base_url,
        client_kwargs={"timeout": settings.llm_timeout_s},
    )


def build_graph(
    model: BaseChatModel,
    tools: list[BaseTool],
    context: AskerContext,
    *,
    max_steps: int = DEFAULT_MAX_STEPS,
) -> CompiledStateGraph[Any, Any, Any, Any]:
    bound = model.bind_tools(tools) if tools else model
    prompt = SystemMessage(system_prompt(context))

    async def call_model(state: AssistantState) -> dict[str, Any]:
        reply = await bound.ainvoke([prompt, *state["messages"]])
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
    return graph.compile()


@dataclass(frozen=True, slots=True)
class AssistantAnswer:
    response: str
    sources: list[dict[str, Any]] = field(default_factory=list)
    tools_used: list[str] = field(default_factory=list)
    confidence: float = 0.0


async def ask(
    model: BaseChatModel,
    data: HotelData,
    context: AskerContext,
    question: str,
    *,
    max_steps: int = DEFAULT_MAX_STEPS,
) -> AssistantAnswer:
    """Run the graph on one question and shape the answer (sources are the tool results)."""
    tools = tools_for(data, context)
    graph = build_graph(model, tools, context, max_steps=max_steps)
    final = await graph.ainvoke(
        {"messages": [HumanMessage(question)], "steps": 0},
        config={"recursion_limit": 2 * max_steps + 2},
    )
    messages = final["messages"]
    sources: list[dict[str, Any]] = []
    used: list[str] = []
    failed = 0
    for message in messages:
        if isinstance(message, ToolMessage):
            name = message.name or "unknown"
            if message.status == "error":
                failed += 1
                continue
            used.append(name)
            sources.append({"tool": name, "result": _parsed(message.content)})
    last = messages[-1]
    if isinstance(last, AIMessage) and last.tool_calls:
        text = STEP_LIMIT_ANSWER
    else:
        text = last.text if isinstance(last, AIMessage) else str(last.content)
    confidence = 0.9 if used and not failed else 0.6 if used else 0.3
    return AssistantAnswer(text, sources, sorted(set(used)), confidence)


def _parsed(content: Any) -> Any:
    if isinstance(content, str):
        try:
            return json.loads(content)
        except ValueError:
            return content
    return content
