"""The assistant's Prometheus metrics (``innsight_llm_*``), served at
``GET /api/v1/llm/metrics`` and ``/metrics``: what the seed's LLM-service monitoring asks for
(response time, token usage, tool-calling success rate) plus answer confidence, fallbacks, alerts
and the LLM's reachability.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class LlmMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "innsight_llm_requests",
            "Requests to /api/v1/llm by endpoint and outcome (ok | error | unavailable).",
            ["endpoint", "outcome"],
            registry=registry,
        )
        self.duration = Histogram(
            "innsight_llm_request_duration_seconds",
            "Time to answer an /api/v1/llm request (a streamed answer: until its last event).",
            ["endpoint"],
            buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0),
            registry=registry,
        )
        self.tokens = Counter(
            "innsight_llm_tokens",
            "Tokens the chat model read (input) and wrote (output), when the provider counts.",
            ["kind"],
            registry=registry,
        )
        self.tool_calls = Counter(
            "innsight_llm_tool_calls",
            "Tool calls of the assistant by tool and status (success | error).",
            ["tool", "status"],
            registry=registry,
        )
        self.confidence = Histogram(
            "innsight_llm_answer_confidence",
            "Share of an answer's checkable claims backed by tool results.",
            buckets=(0.0, 0.25, 0.5, 0.75, 0.9, 1.0),
            registry=registry,
        )
        self.answered_by = Counter(
            "innsight_llm_answered_by",
            "Who answered routing, generation, monitoring and planning: llm | rules | template.",
            ["endpoint", "by"],
            registry=registry,
        )
        self.alerts = Counter(
            "innsight_llm_monitoring_alerts",
            "Monitoring alerts sent, by channel and outcome (sent | failed).",
            ["channel", "outcome"],
            registry=registry,
        )
        self.workflow_completions = Counter(
            "innsight_llm_workflow_completions",
            "Workflow completions received on the webhook, by status.",
            ["status"],
            registry=registry,
        )
        self.up = Gauge(
            "innsight_llm_up",
            "1 when the LLM server answered the last health probe, else 0.",
            registry=registry,
        )
