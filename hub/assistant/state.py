"""The graph's state: the conversation and how many model steps were taken."""

from __future__ import annotations

from typing import Annotated, TypedDict

from langchain_core.messages import AnyMessage
from langgraph.graph.message import add_messages


class AssistantState(TypedDict):
    messages: Annotated[list[AnyMessage], add_messages]
    steps: int
