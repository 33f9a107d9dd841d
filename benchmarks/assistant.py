"""Assistant benchmark: guest-request routing accuracy and the LLM's time to first token.

    .venv/bin/python -m benchmarks.assistant [--data benchmarks/data/routing_requests.jsonl]
        [--show-errors] [--ttft-runs 5] [--llm-sample 20] [--api-runs 5]

- routing accuracy on a labelled set of guest requests (Vietnamese with and without diacritics,
  English): category, priority, room number, items (exact set) and quantity, each and all
  together, per language; on the rule-based path always, and on the LLM path when the model
  server configured by the ``INNSIGHT_LLM_*`` environment (see hub/settings.py) answers;
- rule-based classification latency (median, p95 per request);
- time to first token (median, p95 over ``--ttft-runs`` streamed answers) where a model runs:
  of the bare model on a one-line prompt, and (``--api-runs``) through
  ``POST /api/v1/llm/assistant/query-stream`` of a hub started here, with the seed's request
  shape, the real graph, system prompt and tools (a room-status question: a tool call, then
  the answer), to the first ``token`` event and to the ``final`` one.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from hub.api.app import create_app
from hub.assistant.routing import Routing, classify
from hub.assistant.service import AssistantService
from hub.auth.local import issue_local_token
from hub.auth.scopes import Scope
from hub.serve import HubServerThread
from hub.settings import HubSettings
from innsight.broker import free_port
from testkit.machine import describe_machine

DATA = Path(__file__).parent / "data"
# the labelled set the rules were tuned on, and a held-out set written before measuring on it
DEFAULT_DATA = (DATA / "routing_requests.jsonl", DATA / "routing_requests_holdout.jsonl")
FIELDS = ("category", "priority", "room", "items", "quantity")


@dataclass(frozen=True, slots=True)
class Labelled:
    text: str
    lang: str
    category: str
    priority: str
    room: str | None
    items: tuple[str, ...]
    quantity: int | None


def load(path: Path) -> list[Labelled]:
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            raw = json.loads(line)
            rows.append(
                Labelled(
                    raw["text"],
                    raw["lang"],
                    raw["category"],
                    raw["priority"],
                    raw["room"],
                    tuple(sorted(raw["items"])),
                    raw["quantity"],
                )
            )
    return rows


def compare(row: Labelled, routing: Routing) -> dict[str, bool]:
    request = routing.request
    return {
        "category": routing.category == row.category,
        "priority": routing.priority == row.priority,
        "room": request.room_number == row.room,
        "items": tuple(sorted(set(request.items))) == row.items,
        "quantity": request.quantity == row.quantity,
    }


def _pct(hits: int, total: int) -> str:
    return f"{100 * hits / total:5.1f} %" if total else "  n/a"


def accuracy_table(rows: Sequence[Labelled], results: Sequence[dict[str, bool]]) -> list[str]:
    lines = ["| set | n | " + " | ".join(FIELDS) + " | all fields |", "|---" * 8 + "|"]
    for lang in ("all", "vi", "en"):
        picked = [r for row, r in zip(rows, results, strict=True) if lang in ("all", row.lang)]
        cells = [_pct(sum(r[f] for r in picked), len(picked)) for f in FIELDS]
        exact = _pct(sum(all(r.values()) for r in picked), len(picked))
        lines.append(f"| {lang} | {len(picked)} | " + " | ".join(cells) + f" | {exact} |")
    return lines


def _ms(samples: Sequence[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return f"median {1000 * statistics.median(ordered):.3f} ms, p95 {1000 * p95:.3f} ms"


def run_rules(rows: Sequence[Labelled]) -> tuple[list[dict[str, bool]], list[float]]:
    results, timings = [], []
    for row in rows:  # warm-up: the keyword patterns are compiled on first use
        classify(row.text)
    for row in rows:
        start = time.perf_counter()
        routing = classify(row.text)
        timings.append(time.perf_counter() - start)
        results.append(compare(row, routing))
    return results, timings


def show_errors(
    rows: Sequence[Labelled], results: Sequence[dict[str, bool]], route: Callable[[str], Routing]
) -> None:
    for row, result in zip(rows, results, strict=True):
        wrong = [f for f, ok in result.items() if not ok]
        if wrong:
            got = route(row.text)
            print(f"  [{row.lang}] {row.text!r}: wrong {', '.join(wrong)} -> {got}")


async def run_llm(
    service: AssistantService, rows: Sequence[Labelled], ttft_runs: int
) -> tuple[list[dict[str, bool]], int, list[float]] | str:
    """(results, answers that fell back to rules, time-to-first-token samples) or why not."""
    health = await service.health()
    if health.reason is not None:
        return health.reason
    ttft: list[float] = []
    model = service.model()
    for index in range(ttft_runs):
        start = time.perf_counter()
        async for chunk in model.astream(f"Say hello to guest number {index} in one sentence."):
            if chunk.text:
                ttft.append(time.perf_counter() - start)
                break
    if ttft:
        print(f"time to first token: {_ms(ttft)} over {len(ttft)} runs", flush=True)
    results, fallbacks = [], 0
    for row in rows:
        routing, answered_by = await service.route(row.text)
        fallbacks += answered_by != "llm"
        results.append(compare(row, routing))
    return results, fallbacks, ttft


# the seed's assistant request (000 "Internal Assistant"), streamed
API_REQUEST: dict[str, Any] = {
    "user_id": "EMP001",
    "message": "What is the status of room 201?",
    "context": {"role": "receptionist", "department": "front_desk"},
    "stream": True,
}


def run_api_ttft(settings: HubSettings, runs: int) -> tuple[list[float], list[float]] | str:
    """(seconds to the first ``token`` event, seconds to the ``final`` event) of ``runs``
    requests to a hub started on a scratch data dir with ``settings``' LLM, or why not."""
    with tempfile.TemporaryDirectory() as scratch:
        port = free_port()
        local = settings.model_copy(
            update={"data_dir": Path(scratch), "api_port": port, "mqtt_enabled": False}
        )
        local = HubSettings.model_validate(local.model_dump())
        token = issue_local_token(local, [Scope.LLM_USE], subject=str(API_REQUEST["user_id"]))
        app = create_app(local, start_ingest=False)
        first: list[float] = []
        final: list[float] = []
        with (
            HubServerThread(app, port=port) as server,
            httpx.Client(
                base_url=server.base_url,
                timeout=settings.llm_timeout_s + 30,
                headers={"Authorization": f"Bearer {token}"},
            ) as http,
        ):
            for _ in range(runs):
                start = time.perf_counter()
                seen_token = False
                with http.stream(
                    "POST", "/api/v1/llm/assistant/query-stream", json=API_REQUEST
                ) as reply:
                    if reply.status_code != 200:
                        reply.read()
                        return f"HTTP {reply.status_code}: {reply.text[:200]}"
                    for line in reply.iter_lines():
                        if line == "event: token" and not seen_token:
                            first.append(time.perf_counter() - start)
                            seen_token = True
                        elif line == "event: final":
                            final.append(time.perf_counter() - start)
                if not seen_token:
                    return "the stream sent no token (it ended with an error event)"
        return first, final


def _sample(rows: Sequence[Labelled], count: int) -> list[Labelled]:
    """Every k-th row, ``count`` of them (the sets interleave languages and categories)."""
    if count <= 0 or count >= len(rows):
        return list(rows)
    step = len(rows) / count
    return [rows[int(i * step)] for i in range(count)]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--data", type=Path, nargs="+", default=list(DEFAULT_DATA))
    parser.add_argument("--show-errors", action="store_true")
    parser.add_argument("--ttft-runs", type=int, default=5)
    parser.add_argument(
        "--api-runs",
        type=int,
        default=5,
        help="time to first token through POST /api/v1/llm/assistant/query-stream (0: skip)",
    )
    parser.add_argument(
        "--llm-sample",
        type=int,
        default=0,
        help="LLM path on every k-th request only, this many per set (0: all; slow models)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)  # the LLM's fallbacks are counted, not logged
    sets = {path: load(path) for path in args.data}
    command = "python -m benchmarks.assistant " + " ".join(argv or sys.argv[1:])
    print(f"assistant benchmark — {time.strftime('%Y-%m-%d')}")
    print(f"machine : {describe_machine()}")
    print(f"command : {command.strip()}")
    for path, rows in sets.items():
        langs = {lang: sum(r.lang == lang for r in rows) for lang in ("vi", "en")}
        print(f"\ndata    : {path.name} ({len(rows)} requests: {langs['vi']} vi, {langs['en']} en)")
        results, timings = run_rules(rows)
        print("rule-based routing accuracy")
        print("\n".join(accuracy_table(rows, results)))
        print(f"rule-based latency: {_ms(timings)} per request")
        if args.show_errors:
            show_errors(rows, results, classify)

    settings = HubSettings.from_env(os.environ)
    service = AssistantService(settings)
    provider = f"{settings.llm_provider} {settings.llm_model}"
    reason = asyncio.run(service.health()).reason
    if args.api_runs > 0 and reason is None:
        api = run_api_ttft(settings, args.api_runs)
        if isinstance(api, str):
            print(f"\nquery-stream ({provider}): not measured: {api}")
        else:
            print(
                f"\nquery-stream ({provider}, seed request, graph + prompt + tools): "
                f"first token {_ms(api[0])}, final {_ms(api[1])} over {len(api[1])} runs"
            )
    for index, (path, all_rows) in enumerate(sets.items()):
        rows = _sample(all_rows, args.llm_sample)
        runs = args.ttft_runs if index == 0 else 0
        outcome: Any = asyncio.run(run_llm(service, rows, runs))
        if isinstance(outcome, str):
            print(f"\nLLM path ({provider}): not measured: {outcome}")
            return
        llm_results, fallbacks, _ttft = outcome
        print(
            f"\n{path.name}: LLM routing accuracy ({provider}; {len(rows)} requests, "
            f"{fallbacks} fell back to rules)"
        )
        print("\n".join(accuracy_table(rows, llm_results)))


if __name__ == "__main__":
    main()
