"""A console user's stored preferences (the language), keyed by the principal's actor."""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession

from hub.console.i18n import LANGUAGES
from hub.tables import ConsolePreference, utcnow


async def language_of(session: AsyncSession, actor: str) -> str | None:
    row = await session.get(ConsolePreference, actor)
    return row.language if row is not None and row.language in LANGUAGES else None


async def set_language(session: AsyncSession, actor: str, language: str) -> None:
    """Stores ``language`` (one of :data:`~hub.console.i18n.LANGUAGES`; the caller checked)."""
    row = await session.get(ConsolePreference, actor)
    if row is None:
        row = ConsolePreference(actor=actor, language=language)
    else:
        row.language = language
        row.updated_at = utcnow()
    session.add(row)
    await session.commit()
