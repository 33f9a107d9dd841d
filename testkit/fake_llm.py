"""FAKE LLMs for the assistant's tests (the one boundary a test cannot reach: a model server).

- :class:`FakeToolCallingChatModel`: a scripted LangChain chat model; each call answers with the
  next step (a function of the conversation so far).
- :class:`FakeOllamaServer` and :class:`FakeOpenAIServer`: HTTP servers on 127.0.0.1 speaking
  Ollama's ``/api/tags`` + ``/api/chat`` (NDJSON) and the OpenAI ``/v1/models`` +
  ``/v1/chat/completions`` (JSON or SSE) wire formats, so the real ``ChatOllama`` and
  ``ChatOpenAI`` clients are exercised. Their replies come from a ``Brain``: a function from the
  request's messages (as the wire carries them) to either text or one tool call.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage, BaseMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import Runnable
from langchain_core.tools import BaseTool
from pydantic import ConfigDict, Field

from hub.assistant.service import AssistantService, LLMHealth
from hub.settings import HubSettings

Step = Callable[[Sequence[BaseMessage]], AIMessage]


class FakeToolCallingChatModel(BaseChatModel):
    """A FAKE chat model for tests: each call answers with the next scripted step (a function of
    the conversation so far); ``bind_tools`` records the tool names it was offered and
    ``seen`` the messages of every call."""

    model_config = ConfigDict(arbitrary_types_allowed=True)
    steps: list[Step]
    calls: int = 0
    bound_tools: list[str] = Field(default_factory=list)
    seen: list[list[BaseMessage]] = Field(default_factory=list)

    @property
    def _llm_type(self) -> str:
        return "fake-tool-calling"

    def bind_tools(
        self,
        tools: Sequence[Any],
        *,
        tool_choice: str | None = None,  # noqa: ARG002 - BaseChatModel's signature
        **_kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        self.bound_tools = [t.name for t in tools if isinstance(t, BaseTool)]
        return self

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,  # noqa: ARG002 - BaseChatModel's signature
        run_manager: CallbackManagerForLLMRun | None = None,  # noqa: ARG002
        **kwargs: Any,  # noqa: ARG002
    ) -> ChatResult:
        step = self.steps[min(self.calls, len(self.steps) - 1)]
        self.calls += 1
        self.seen.append(list(messages))
        return ChatResult(generations=[ChatGeneration(message=step(messages))])


def call(name: str, **args: Any) -> Step:
    """A step that calls one tool."""
    return lambda _messages: AIMessage(
        content="", tool_calls=[{"name": name, "args": args, "id": f"call-{name}"}]
    )


def say(text: str) -> Step:
    """A step that answers with fixed text."""
    return lambda _messages: AIMessage(content=text)


def last_tool_result(messages: Sequence[BaseMessage]) -> tuple[ToolMessage, Any]:
    tool = next(m for m in reversed(messages) if isinstance(m, ToolMessage))
    try:
        return tool, json.loads(str(tool.content))
    except ValueError:
        return tool, str(tool.content)


# ---------------------------------------------------------------------------------------------
# FAKE model servers
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Reply:
    """What a fake server answers: ``text``, or a call of ``tool`` with ``args``."""

    text: str = ""
    tool: str | None = None
    args: dict[str, Any] | None = None


Brain = Callable[[list[dict[str, Any]]], Reply]


def room_status_brain(messages: list[dict[str, Any]]) -> Reply:
    """Calls ``room_status`` for room 201, then answers with the status the tool returned."""
    tools = [m for m in messages if m.get("role") == "tool"]
    if tools:
        result = json.loads(tools[-1]["content"])
        return Reply(text=f"Room 201 is {result['status']}.")
    return Reply(tool="room_status", args={"room_number": "201"})


class _FakeServer:
    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.base_url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


def _words(text: str) -> list[str]:
    """``text`` cut into word-sized chunks (spaces kept), as a model streams it."""
    parts = text.split(" ")
    return [p + (" " if i < len(parts) - 1 else "") for i, p in enumerate(parts)]


class FakeOllamaServer:
    """A FAKE Ollama on 127.0.0.1: ``/api/tags`` lists ``model``; ``/api/chat`` answers from
    ``brain``, streaming text word by word (NDJSON) when the client asks for a stream."""

    def __init__(self, model: str, brain: Brain = room_status_brain) -> None:
        self.chat_requests: list[dict[str, Any]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_args: Any) -> None:
                pass

            def _send(self, lines: list[dict[str, Any]]) -> None:
                body = "".join(json.dumps(line) + "\n" for line in lines).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-ndjson")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                self._send([{"models": [{"name": model, "model": model}]}])

            def do_POST(self) -> None:
                request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                fake.chat_requests.append(request)
                reply = brain(request["messages"])
                base = {"model": model, "created_at": "2026-01-01T00:00:00Z"}
                if reply.tool is not None:
                    call = {"function": {"name": reply.tool, "arguments": reply.args or {}}}
                    message = {"role": "assistant", "content": "", "tool_calls": [call]}
                    self._send([{**base, "message": message, "done": True, "done_reason": "stop"}])
                    return
                chunks = _words(reply.text) if request.get("stream", True) else [reply.text]
                lines = [
                    {**base, "message": {"role": "assistant", "content": c}, "done": False}
                    for c in chunks
                ]
                lines.append(
                    {
                        **base,
                        "message": {"role": "assistant", "content": ""},
                        "done": True,
                        "done_reason": "stop",
                    }
                )
                self._send(lines)

        self._server = _FakeServer(Handler)
        self.base_url = self._server.base_url

    def __enter__(self) -> FakeOllamaServer:
        self._server.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._server.stop()


class FakeOpenAIServer:
    """A FAKE OpenAI-compatible server on 127.0.0.1 under ``/v1``: ``GET /v1/models`` lists
    ``model`` (only with the right bearer key when ``api_key`` is set), ``POST
    /v1/chat/completions`` answers from ``brain`` as JSON, or as SSE chunks when streaming."""

    def __init__(self, model: str, brain: Brain = room_status_brain, api_key: str = "") -> None:
        self.chat_requests: list[dict[str, Any]] = []
        self.auth_headers: list[str] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_args: Any) -> None:
                pass

            def _json(self, status: int, payload: dict[str, Any]) -> None:
                body = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _authorized(self) -> bool:
                given = self.headers.get("Authorization", "")
                fake.auth_headers.append(given)
                if api_key and given != f"Bearer {api_key}":
                    self._json(401, {"error": {"message": "bad key", "type": "invalid_api_key"}})
                    return False
                return True

            def do_GET(self) -> None:
                if self.path.rstrip("/") != "/v1/models":
                    self._json(404, {"error": {"message": "not found"}})
                    return
                if self._authorized():
                    self._json(200, {"object": "list", "data": [{"id": model, "object": "model"}]})

            def do_POST(self) -> None:
                request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if self.path.rstrip("/") != "/v1/chat/completions":
                    self._json(404, {"error": {"message": "not found"}})
                    return
                if not self._authorized():
                    return
                fake.chat_requests.append(request)
                reply = brain(request["messages"])
                if request.get("stream"):
                    self._stream(reply)
                else:
                    self._json(200, _completion(model, reply))

            def _stream(self, reply: Reply) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                for chunk in _chunks(model, reply):
                    self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                    self.wfile.flush()
                self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()
                self.close_connection = True

        self._server = _FakeServer(Handler)
        self.base_url = f"{self._server.base_url}/v1"

    def __enter__(self) -> FakeOpenAIServer:
        self._server.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._server.stop()


def _tool_call(reply: Reply) -> dict[str, Any]:
    return {
        "id": f"call_{reply.tool}",
        "type": "function",
        "function": {"name": reply.tool, "arguments": json.dumps(reply.args or {})},
    }


def _completion(model: str, reply: Reply) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": reply.text or None}
    finish = "stop"
    if reply.tool is not None:
        message["tool_calls"] = [_tool_call(reply)]
        finish = "tool_calls"
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": 1_767_225_600,
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }


def _chunks(model: str, reply: Reply) -> list[dict[str, Any]]:
    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {
            "id": "chatcmpl-fake",
            "object": "chat.completion.chunk",
            "created": 1_767_225_600,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }

    if reply.tool is not None:
        call = {"index": 0, **_tool_call(reply)}
        return [chunk({"role": "assistant", "tool_calls": [call]}), chunk({}, "tool_calls")]
    words = [chunk({"role": "assistant", "content": ""})]
    words += [chunk({"content": w}) for w in _words(reply.text)]
    return [*words, chunk({}, "stop")]


class FakeReachableAssistant(AssistantService):
    """The real :class:`AssistantService` with a FAKE chat model and a health probe that says
    the (absent) model server is up: for tests that drive the routes with a scripted model."""

    def __init__(self, settings: HubSettings, model: BaseChatModel) -> None:
        super().__init__(settings, model_factory=lambda _settings: model)

    async def health(self) -> LLMHealth:
        return LLMHealth(True, "fake", "fake-tool-calling", True, "fake://", None)
