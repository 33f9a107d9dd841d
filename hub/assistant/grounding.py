"""How much of an answer the tool results back (pure): the assistant's ``confidence``.

A *claim* is a piece of the answer that data can contradict:

- every token that carries a digit: room numbers, dates, times, counts, references
  (``201``, ``2026-12-07``, ``10:00``, ``BK-1``, ``EMP001``);
- every status word of the hotel's data (``occupied``, ``cleaning``, ``checked in``, ``late``...).

Tokens the question itself contains are not claims (echoing the question proves nothing). A
claim is *backed* when it equals a value in the tool results the model saw (this turn's, and the
remembered ones of the conversation window): numbers compare as numbers, words case-folded.

``confidence = backed / claims``: 1.0 when every checkable claim is in the data, 0.5 when half
is, 0.0 when none is **or when the answer makes no checkable claim at all** (then nothing in it
is backed by data: "I do not know" and small talk score 0). When the provider returns token
log-probabilities, their geometric mean is reported beside it (``token_probability``), not mixed
into it.
"""

from __future__ import annotations

import contextlib
import json
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

# status values of rooms, bookings, attendance, tasks, workflows, anomalies (hub/tables.py)
STATUS_WORDS = frozenset(
    {
        "available", "occupied", "cleaning", "maintenance", "out_of_order", "reserved",
        "checked_in", "checked_out", "cancelled", "no_show", "present", "late", "absent",
        "assigned", "scheduled", "running", "completed", "failed", "fire", "smoke", "intrusion",
    }
)  # fmt: skip
_MULTI_WORD = re.compile(r"\b(checked|out|no)[\s-]+(in|out|of order|of_order|show)\b")
_TOKEN = re.compile(r"[\w.:/+-]+", re.UNICODE)
_NUMBER = re.compile(r"^[+-]?\d+(?:[.,]\d+)?$")


@dataclass(frozen=True, slots=True)
class Grounding:
    claims: list[str] = field(default_factory=list)
    backed: list[str] = field(default_factory=list)
    token_probability: float | None = None

    @property
    def unbacked(self) -> list[str]:
        return [c for c in self.claims if c not in self.backed]

    @property
    def confidence(self) -> float:
        return round(len(self.backed) / len(self.claims), 4) if self.claims else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "claims": len(self.claims),
            "backed": len(self.backed),
            "unbacked": self.unbacked,
            "token_probability": self.token_probability,
        }


def _norm(token: str) -> str:
    token = token.strip(".,:;!?()[]{}\"'`").lower()
    return token


def _joined(text: str) -> str:
    """``checked in`` / ``checked-in`` / ``out of order`` written as the data writes them."""
    return _MULTI_WORD.sub(lambda m: f"{m.group(1)}_{m.group(2).replace(' ', '_')}", text.lower())


def _number(token: str) -> float | None:
    if _NUMBER.match(token):
        try:
            return float(token.replace(",", "."))
        except ValueError:
            return None
    return None


def claims_of(answer: str) -> list[str]:
    """The checkable claims of an answer, in order, each once."""
    found: list[str] = []
    for raw in _TOKEN.findall(_joined(answer)):
        token = _norm(raw)
        if not token:
            continue
        checkable = any(c.isdigit() for c in token) or token in STATUS_WORDS
        if checkable and token not in found:
            found.append(token)
    return found


def _atoms(value: Any, out: set[str], numbers: set[float]) -> None:
    if isinstance(value, dict):
        for item in value.values():
            _atoms(item, out, numbers)
    elif isinstance(value, list | tuple):
        for item in value:
            _atoms(item, out, numbers)
    elif isinstance(value, bool) or value is None:
        return
    elif isinstance(value, int | float):
        numbers.add(float(value))
        out.add(_norm(str(value)))
    else:
        text = str(value)
        out.add(_norm(text))
        for raw in _TOKEN.findall(_joined(text)):
            token = _norm(raw)
            out.add(token)
            number = _number(token)
            if number is not None:
                numbers.add(number)
        # ISO timestamps also back their date and their HH:MM
        for match in re.finditer(r"(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2})", text):
            out.update(match.groups())


def evidence_of(results: Iterable[Any]) -> tuple[set[str], set[float]]:
    """The atoms (case-folded tokens) and numbers of tool results (parsed JSON or text)."""
    atoms: set[str] = set()
    numbers: set[float] = set()
    for result in results:
        if isinstance(result, str):
            with contextlib.suppress(ValueError):
                result = json.loads(result)
        _atoms(result, atoms, numbers)
    return atoms, numbers


def grounding(
    answer: str,
    question: str,
    results: Sequence[Any],
    *,
    logprobs: Sequence[float] | None = None,
) -> Grounding:
    """The answer's claims (minus those the question states) and which the results back."""
    asked = set(claims_of(question))
    claims = [c for c in claims_of(answer) if c not in asked]
    atoms, numbers = evidence_of(results)
    backed = [c for c in claims if c in atoms or ((n := _number(c)) is not None and n in numbers)]
    probability = None
    if logprobs:
        probability = round(math.exp(sum(logprobs) / len(logprobs)), 4)
    return Grounding(claims, backed, probability)
