"""The hotel assistant (issue 7): a LangGraph ReAct graph over role-limited hotel-data tools
(mutating ones only propose, the caller confirms), per-user memory, streaming, a rule-based
request router used when no LLM is reachable, message templates, log monitoring and task plans
(DESIGN §1, §3)."""
