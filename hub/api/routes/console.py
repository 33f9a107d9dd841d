"""The staff console at ``/console`` (issue 18): its HTML pages, static files, the signed-in
user's profile and preferences; and :func:`mount_console`, which adds these and every
``hub/api/routes/console_*.py`` module's ``router`` to the app.

The HTML and static files carry no data (each page's script fetches it with the user's token),
so they are served without credentials; every ``/console/api/...`` route is authenticated."""

from __future__ import annotations

import importlib
import pkgutil
from typing import Annotated, Literal

from fastapi import APIRouter, FastAPI, HTTPException, Path, Request, Security
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict

from hub.api.auth import Principal, authorize
from hub.api.deps import Session
from hub.api.errors import field_error
from hub.console import preferences
from hub.console.i18n import DEFAULT_LANGUAGE, LANGUAGES, language_or_default
from hub.console.registry import PAGE_ID_PATTERN, page_by_id, visible_pages
from hub.console.render import STATIC, STATIC_URL, render_page, render_signin

LANG_COOKIE = "innsight_console_lang"
SignedIn = Annotated[Principal, Security(authorize, scopes=[])]

router = APIRouter(prefix="/console", include_in_schema=False)
api_router = APIRouter(prefix="/console/api", tags=["console"])

_HTML_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' blob: data:; style-src 'self'; "
        "script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def _settings_timezone(request: Request) -> str:
    runtime = getattr(request.app.state, "hub", None)
    return str(runtime.settings.timezone) if runtime is not None else "UTC"


def _language(request: Request) -> str:
    return language_or_default(request.cookies.get(LANG_COOKIE))


@router.get("", response_class=HTMLResponse)
@router.get("/", response_class=HTMLResponse)
async def console_home() -> RedirectResponse:
    return RedirectResponse("/console/today", status_code=307)


@router.get("/signin", response_class=HTMLResponse)
async def signin_page(request: Request) -> HTMLResponse:
    html = render_signin(language=_language(request), timezone=_settings_timezone(request))
    return HTMLResponse(html, headers=_HTML_HEADERS)


@router.get("/{page_id}", response_class=HTMLResponse)
async def console_page(
    request: Request, page_id: Annotated[str, Path(pattern=PAGE_ID_PATTERN)]
) -> HTMLResponse:
    page = page_by_id(page_id)
    if page is None:
        raise HTTPException(404, detail=field_error("page_id", f"no console page {page_id!r}"))
    html = render_page(page, language=_language(request), timezone=_settings_timezone(request))
    return HTMLResponse(html, headers=_HTML_HEADERS)


class NavEntry(BaseModel):
    id: str
    href: str


class Me(BaseModel):
    username: str
    kind: str
    display_name: str
    scopes: list[str]
    language: str
    timezone: str
    pages: list[NavEntry]


class Preferences(BaseModel):
    model_config = ConfigDict(extra="forbid")

    language: Literal["en", "vi"]


@api_router.get("/me", response_model=Me)
async def me(request: Request, session: Session, principal: SignedIn) -> Me:
    """Who is signed in, their scopes, language, the hotel's time zone and their pages."""
    language = await preferences.language_of(session, principal.actor)
    return Me(
        username=principal.name,
        kind=principal.kind,
        display_name=principal.name,
        scopes=sorted(principal.scopes),
        language=language or _language(request) or DEFAULT_LANGUAGE,
        timezone=_settings_timezone(request),
        pages=[NavEntry(id=p.id, href=f"/console/{p.id}") for p in visible_pages(principal.scopes)],
    )


@api_router.put("/me/preferences", response_model=Preferences)
async def set_preferences(body: Preferences, session: Session, principal: SignedIn) -> Preferences:
    """Stores the user's console language (``en`` or ``vi``) on the hub."""
    if body.language not in LANGUAGES:  # pragma: no cover - the Literal refuses it first
        raise HTTPException(422, detail=field_error("language", "unknown language"))
    await preferences.set_language(session, principal.actor, body.language)
    return body


def page_routers() -> list[APIRouter]:
    """The ``router`` of every ``hub/api/routes/console_*.py`` module (a page's own routes)."""
    from hub.api import routes as package

    found = []
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda i: i.name):
        if info.name.startswith("console_"):
            module = importlib.import_module(f"{package.__name__}.{info.name}")
            found.append(module.router)
    return found


def mount_console(app: FastAPI) -> None:
    """Adds the console: static files, its API routes, page routes, then the HTML pages."""
    app.mount(STATIC_URL, StaticFiles(directory=STATIC), name="console-static")
    app.include_router(api_router)
    for page_router in page_routers():
        app.include_router(page_router)
    app.include_router(router)
