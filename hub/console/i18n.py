"""Translations: ``i18n/<language>/<namespace>.json`` files, each a flat ``{"key": "text"}``
object; a key is looked up as ``"<namespace>.<key>"`` (``shell.json`` holds the shell's keys,
``<page id>.json`` a page's). English is the fallback for a key missing in another language."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

LANGUAGES: dict[str, str] = {"en": "English", "vi": "Tiếng Việt"}
DEFAULT_LANGUAGE = "en"
# BCP 47 locale per language, for Intl (dates, numbers, currency) in the browser
LOCALES: dict[str, str] = {"en": "en-GB", "vi": "vi-VN"}

_ROOT = Path(__file__).parent / "i18n"


def language_or_default(value: str | None) -> str:
    return value if value in LANGUAGES else DEFAULT_LANGUAGE


@cache
def catalog(language: str) -> dict[str, str]:
    """Every key of ``language`` (English where it has none)."""
    merged: dict[str, str] = {}
    for lang in dict.fromkeys((DEFAULT_LANGUAGE, language)):
        for path in sorted((_ROOT / lang).glob("*.json")):
            texts = json.loads(path.read_text(encoding="utf-8"))
            merged.update({f"{path.stem}.{key}": str(text) for key, text in texts.items()})
    return merged


def translate(language: str, key: str, **values: object) -> str:
    """The text of ``key`` with ``{name}`` placeholders filled; the key itself when unknown."""
    text = catalog(language_or_default(language)).get(key, key)
    return text.format(**values) if values else text


def missing_keys(language: str) -> list[str]:
    """Keys English has and ``language`` does not (a test keeps this empty)."""
    own: set[str] = set()
    for path in (_ROOT / language).glob("*.json"):
        own.update(f"{path.stem}.{k}" for k in json.loads(path.read_text(encoding="utf-8")))
    return sorted(set(catalog(DEFAULT_LANGUAGE)) - own)
