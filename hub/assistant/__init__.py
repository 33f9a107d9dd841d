"""The hotel assistant (issue 7): a LangGraph ReAct graph over read-only hotel-data tools, and
a rule-based request router used when no LLM is reachable (DESIGN §1, §3)."""
