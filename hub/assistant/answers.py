"""What the assistant's graph gives back: a whole answer or one streamed event. Kept apart from
hub/assistant/graph.py so that the API can name them without loading LangChain and LangGraph
(they load on the first question; tests/unit/test_lazy_imports.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class AssistantAnswer:
    """``sources``: one entry per table a successful tool read (``type`` database, ``table``,
    the ``tool`` and its ``result``); ``confidence``: the share of the answer's checkable claims
    that the tool results back (hub/assistant/grounding.py), ``grounding`` its detail."""

    response: str
    sources: list[dict[str, Any]] = field(default_factory=list)
    tools_used: list[str] = field(default_factory=list)
    confidence: float = 0.0
    pending_actions: list[dict[str, Any]] = field(default_factory=list)
    grounding: dict[str, Any] = field(default_factory=dict)
    usage: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class StreamEvent:
    """One Server-Sent Event: ``token`` | ``tool_call`` | ``tool_result`` | ``final``."""

    event: str
    data: dict[str, Any]
