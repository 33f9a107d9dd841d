"""CompreFace's query parameters, parsed and checked (pure): ``limit``, ``det_prob_threshold``,
``prediction_count``, ``face_plugins``, ``status``, ``page``, ``size``.

Errors are :class:`~hub.compat.compreface.errors.CompreFaceError` naming the parameter.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from hub.compat.compreface import errors

SUPPORTED_PLUGINS = ("landmarks", "calculator")
# CompreFace's other plugins: refused by name (the hub has no age, gender, mask or pose model)
KNOWN_UNSUPPORTED = ("age", "gender", "mask", "pose", "landmarks2d106")
# Double Take builds ``?face_plugins=${FACE_PLUGINS}``: with the option unset it sends the
# JavaScript word "undefined"; CompreFace ignores it, so does this adapter (no plugin).
_UNSET_WORDS = frozenset({"", "undefined", "null"})
DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 1000
MAX_LIMIT = 100
MAX_PREDICTIONS = 100


@dataclass(frozen=True, slots=True)
class FaceQuery:
    """What a recognize / detect / verify request asks for."""

    limit: int = 0  # 0: every face
    det_prob_threshold: float = 0.0
    prediction_count: int = 1
    plugins: frozenset[str] = frozenset()
    status: bool = False


def _int(query: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    text = query.get(name)
    if text is None or text == "":
        return default
    try:
        value = int(text)
    except ValueError:
        raise errors.invalid(f"{name} must be an integer, got {text[:40]!r}") from None
    if not low <= value <= high:
        raise errors.invalid(f"{name} must be between {low} and {high}, got {value}")
    return value


def det_prob_threshold(query: Mapping[str, str]) -> float:
    text = query.get("det_prob_threshold")
    if text is None or text == "":
        return 0.0
    try:
        value = float(text)
    except ValueError:
        raise errors.invalid(
            f"det_prob_threshold must be a number between 0.0 and 1.0, got {text[:40]!r}"
        ) from None
    if not 0.0 <= value <= 1.0:
        raise errors.invalid(f"det_prob_threshold must be between 0.0 and 1.0, got {value}")
    return value


def flag(query: Mapping[str, str], name: str) -> bool:
    text = (query.get(name) or "false").strip().lower()
    if text in ("true", "1"):
        return True
    if text in ("false", "0", ""):
        return False
    raise errors.invalid(f"{name} must be true or false, got {text[:40]!r}")


def plugins(query: Mapping[str, str]) -> frozenset[str]:
    """The requested face plugins; an unsupported one is refused naming it and the supported."""
    text = query.get("face_plugins") or ""
    names = [n.strip() for n in text.split(",")]
    wanted = {n for n in names if n.lower() not in _UNSET_WORDS}
    refused = sorted(wanted - set(SUPPORTED_PLUGINS))
    if refused:
        known = " (a CompreFace plugin)" if refused[0] in KNOWN_UNSUPPORTED else ""
        raise errors.invalid(
            f"face_plugins: plugin {refused[0][:40]!r}{known} is not supported by this server; "
            f"supported: {', '.join(SUPPORTED_PLUGINS)}"
        )
    return frozenset(wanted)


def face_query(query: Mapping[str, str]) -> FaceQuery:
    return FaceQuery(
        limit=_int(query, "limit", 0, 0, MAX_LIMIT),
        det_prob_threshold=det_prob_threshold(query),
        prediction_count=_int(query, "prediction_count", 1, 1, MAX_PREDICTIONS),
        plugins=plugins(query),
        status=flag(query, "status"),
    )


def page(query: Mapping[str, str]) -> tuple[int, int]:
    """``page`` (from 0) and ``size`` (default 20)."""
    return (
        _int(query, "page", 0, 0, 2**31 - 1),
        _int(query, "size", DEFAULT_PAGE_SIZE, 1, MAX_PAGE_SIZE),
    )
