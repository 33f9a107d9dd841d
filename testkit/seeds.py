"""The seed specification documents (``../shared/seeds/*.txt``) read as data.

The seeds are the API contract (DESIGN §3): every example request is accepted as written and
every documented response field is returned under the seed's name. The contract tests read the
examples out of the documents themselves — never a hand-copied version — so a route change that
breaks a seed example fails CI.

Two heading styles occur: ``**POST** `/api/v1/...``` (000) and ``#### POST `/api/v1/...``` (004).
After a heading, a fenced block is a *request* unless the line before it names a response
(``Response:``, ``**Response (Not Found):**``); blocks stop at the next heading or ``---``.
The documents were saved through a cp1252 round trip (``Ã¡`` for ``á``): text is repaired
where that inverts cleanly. ``{...}`` stands for "an object" in the 000 document and is read
as ``{}``.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

SEEDS_ENV = "INNSIGHT_SEEDS_DIR"

_HEADING = re.compile(
    r"^(?:\*\*(?P<m1>GET|POST|PUT|PATCH|DELETE)\*\*|#{2,6}\s+(?P<m2>GET|POST|PUT|PATCH|DELETE))"
    r"\s+`(?P<path>/api/v1/[^`]+)`(?P<rest>.*)$"
)
_ANY_SECTION = re.compile(r"^(#{1,6}\s|---\s*$|\*\*(GET|POST|PUT|PATCH|DELETE)\*\*)")
_FENCE = re.compile(r"^```(?P<lang>\w*)\s*$")
_ELLIPSIS_OBJECT = re.compile(r"\{\s*\.\.\.\s*\}")


@dataclass(frozen=True)
class SeedResponse:
    label: str  # "Response", "Response (Not Found)", ...
    body: Any  # parsed JSON, or the text of a non-JSON block (Prometheus exposition)
    is_json: bool


@dataclass(frozen=True)
class SeedEndpoint:
    document: str  # file name of the seed document
    line: int  # 1-based line of the heading
    method: str
    path: str  # the path template as written: /api/v1/cv/face/{employee_id}
    note: str  # text after the path on the heading line, e.g. "(SSE endpoint)"
    request: Any | None  # the example request body as parsed JSON, None when none is shown
    responses: tuple[SeedResponse, ...] = field(default_factory=tuple)

    @property
    def key(self) -> str:
        """A stable test id: ``000:POST /api/v1/cv/face/recognize``."""
        return f"{self.document[:3]}:{self.method} {self.path}"

    @property
    def surface(self) -> str:
        """``cv``, ``ml``, ``llm`` or ``prefect``."""
        return self.path.split("/")[3]

    def path_params(self) -> list[str]:
        return re.findall(r"\{(\w+)\}", self.path)


def seeds_dir() -> Path:
    """``../shared/seeds`` beside the repository (CI lays shared/ beside the clone)."""
    override = os.environ.get(SEEDS_ENV)
    if override:
        return Path(override)
    return Path(__file__).resolve().parents[2] / "shared" / "seeds"


_MOJIBAKE_MARKERS = ("Ã", "Ä", "Æ", "á»", "áº", "â€")


def _to_bytes(char: str) -> bytes:
    try:
        return char.encode("cp1252")
    except UnicodeEncodeError:
        return char.encode("latin-1") if ord(char) < 256 else char.encode("utf-8")


def repair_text(text: str) -> str:
    """Undo a UTF-8 → cp1252 mis-decoding. Where the document lost bytes on the way (soft
    hyphens, cp1252's undefined bytes), the affected characters become U+FFFD; text without
    mojibake markers is returned unchanged."""
    if not any(marker in text for marker in _MOJIBAKE_MARKERS):
        return text
    return b"".join(_to_bytes(c) for c in text).decode("utf-8", errors="replace")


def _repair(value: Any) -> Any:
    if isinstance(value, str):
        return repair_text(value)
    if isinstance(value, list):
        return [_repair(v) for v in value]
    if isinstance(value, dict):
        return {repair_text(k): _repair(v) for k, v in value.items()}
    return value


def parse_document(name: str, text: str) -> list[SeedEndpoint]:
    lines = text.splitlines()
    endpoints: list[SeedEndpoint] = []
    i = 0
    while i < len(lines):
        match = _HEADING.match(lines[i].strip())
        if match is None:
            i += 1
            continue
        method = match.group("m1") or match.group("m2")
        heading_line = i + 1
        request: Any | None = None
        responses: list[SeedResponse] = []
        j = i + 1
        label_line = ""
        while j < len(lines):
            stripped = lines[j].strip()
            if _ANY_SECTION.match(stripped):
                break
            fence = _FENCE.match(stripped)
            if fence is None:
                if stripped:
                    label_line = stripped
                j += 1
                continue
            k = j + 1
            block: list[str] = []
            while k < len(lines) and not lines[k].strip().startswith("```"):
                block.append(lines[k])
                k += 1
            raw = "\n".join(block)
            is_json = fence.group("lang") == "json"
            body: Any = raw
            if is_json:
                body = _repair(json.loads(_ELLIPSIS_OBJECT.sub("{}", raw)))
            if "response" in label_line.lower():
                label = label_line.strip("*: ").rstrip(":").strip("*").strip()
                responses.append(SeedResponse(label=label, body=body, is_json=is_json))
            elif request is None and is_json:
                request = body
            label_line = ""
            j = k + 1
        endpoints.append(
            SeedEndpoint(
                document=name,
                line=heading_line,
                method=method,
                path=match.group("path"),
                note=match.group("rest").strip(),
                request=request,
                responses=tuple(responses),
            )
        )
        i = j
    return endpoints


@cache
def load_seed_endpoints() -> tuple[SeedEndpoint, ...]:
    """Every endpoint heading of every seed document, in document order."""
    found: list[SeedEndpoint] = []
    for path in sorted(seeds_dir().glob("*.txt")):
        found.extend(parse_document(path.name, path.read_text(encoding="utf-8")))
    if not found:
        raise FileNotFoundError(f"no seed endpoints under {seeds_dir()} (set {SEEDS_ENV})")
    return tuple(found)


def seed_endpoints(surface: str) -> list[SeedEndpoint]:
    """The endpoints of one surface (``cv``, ``ml``, ``llm``, ``prefect``)."""
    return [e for e in load_seed_endpoints() if e.surface == surface]


def json_type_name(value: Any) -> str:
    """The JSON type of a value: null, boolean, number, string, array, object."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def missing_fields(expected: Any, actual: Any, where: str = "$") -> list[str]:
    """Every field of a seed response absent from ``actual`` or of another JSON type.

    Objects are compared key by key (extra keys in ``actual`` are fine); for arrays the first
    seed element is the shape every element of ``actual`` must have (an empty ``actual`` array
    cannot be checked element-wise: the caller must arrange data so it is not empty). A seed
    ``null`` accepts anything. Numbers accept int or float.
    """
    problems: list[str] = []
    if expected is None:
        return problems
    exp_type, act_type = json_type_name(expected), json_type_name(actual)
    if exp_type != act_type:
        return [f"{where}: expected {exp_type}, got {act_type} ({actual!r:.80})"]
    if isinstance(expected, dict):
        for key, value in expected.items():
            if key not in actual:
                problems.append(f"{where}.{key}: missing")
            else:
                problems.extend(missing_fields(value, actual[key], f"{where}.{key}"))
    elif isinstance(expected, list) and expected:
        if not actual:
            problems.append(f"{where}: empty array, cannot check the seed's element shape")
        for index, item in enumerate(actual):
            problems.extend(missing_fields(expected[0], item, f"{where}[{index}]"))
    return problems
