"""Renders the console's HTML with Jinja2 (autoescaped): the shell around a page, and sign-in.

The HTML carries no data: pages fetch it with the signed-in user's token from the API (the
token lives in the browser's sessionStorage), so the shell itself needs no credentials."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

from hub.console.i18n import LANGUAGES, LOCALES, catalog, language_or_default, translate
from hub.console.registry import Page, pages

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"
STATIC_URL = "/console/static"


@cache
def environment() -> Environment:
    return Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(("html",)),
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _context(language: str, timezone: str) -> dict[str, Any]:
    lang = language_or_default(language)

    def t(key: str, **values: object) -> str:
        return translate(lang, key, **values)

    return {
        "lang": lang,
        "locale": LOCALES[lang],
        "languages": LANGUAGES,
        "timezone": timezone,
        "t": t,
        "static": STATIC_URL,
        "pages": pages(),
        # every key of the language, for the page scripts (i18n.js reads it)
        "catalog_json": json.dumps(catalog(lang), ensure_ascii=False).replace("</", "<\\/"),
    }


def render_page(page: Page, *, language: str, timezone: str) -> str:
    return (
        environment().get_template(page.template).render(page=page, **_context(language, timezone))
    )


def render_signin(*, language: str, timezone: str) -> str:
    return (
        environment().get_template("signin.html").render(page=None, **_context(language, timezone))
    )
