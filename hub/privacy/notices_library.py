"""Privacy notices (issue 17 item 3): versioned texts, one file per version and language under
``hub/privacy/notices/`` named ``{version}.{language}.md`` (``face-v1.vi.md``). A consent names
the version and language the person was shown; a text is never edited once used, a change is a
new version. The first ``# `` line is the title.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

NOTICES_DIR = Path(__file__).resolve().parent / "notices"
LANGUAGES = ("vi", "en")
VERSION_PATTERN = r"^[a-z][a-z0-9_]*-v[0-9]{1,4}$"
_FILE = re.compile(r"^(?P<version>[a-z][a-z0-9_]*-v[0-9]{1,4})\.(?P<language>vi|en)\.md$")


class NoticeNotFoundError(LookupError):
    """No notice of that version in that language."""


@dataclass(frozen=True, slots=True)
class Notice:
    version: str
    language: str
    title: str
    text: str

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()


def _title(text: str, fallback: str) -> str:
    for line in text.splitlines():
        if line.startswith("# "):
            return line[2:].strip()
    return fallback


def _read(path: Path, version: str, language: str) -> Notice:
    text = path.read_text(encoding="utf-8")
    return Notice(version, language, _title(text, version), text)


def list_notices(directory: Path = NOTICES_DIR) -> list[Notice]:
    """Every notice, by version then language."""
    found = []
    for path in sorted(directory.glob("*.md")):
        match = _FILE.match(path.name)
        if match is not None:
            found.append(_read(path, match["version"], match["language"]))
    return found


def get_notice(version: str, language: str, directory: Path = NOTICES_DIR) -> Notice:
    """One notice (raises :class:`NoticeNotFoundError` naming what exists)."""
    path = directory / f"{version}.{language}.md"
    if _FILE.match(path.name) is None or not path.is_file():
        known = ", ".join(f"{n.version}/{n.language}" for n in list_notices(directory))
        raise NoticeNotFoundError(
            f"no notice {version!r} in language {language!r}; known: {known or 'none'}"
        )
    return _read(path, version, language)
