"""The seller's name on a receipt, from its OCR rows (pure).

Candidates are the rows near the top of the page. Each is scored by a company suffix (``SDN
BHD``, ``S/B``, ``ENTERPRISE``, ``TRADING``, ``RESTAURANT``, ``CÔNG TY``, ``CO., LTD``...), its
place (higher is better), capitals, and how much of it is letters; rows that are an address, a
phone, a registration or tax number, a title (``TAX INVOICE``), a date or a code are not
candidates. A trailing registration number (``(65351-M)``, ``862725-U``) is cut off, and a name
broken over two or three rows (``POPULAR BOOK`` / ``CO. (M) SDN BHD``, ``... VEGETARIAN`` /
``RESTAURANT SDN BHD``, ``THE TEAPOT HOUSE`` / ``& SCONE``, an unclosed bracket) is joined. The
confidence is high only for a suffixed name well ahead of the runner-up, read without OCR
noise; callers flag a vendor under ``FLAG_BELOW`` for a human."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from hub.vision.ocr_text import Row, fold, nfc

TOP_ROWS = 8  # the seller's name is printed above the first few rows
_LEGAL = re.compile(
    r"(?<![a-z])(sdn\.?\s*bhd|bhd|sb|enterprise|trading|company|co\.?,?\s*ltd|ltd|llc|"
    r"inc|corp|cong\s*ty|cty|tnhh|kedai|perniagaan|syarikat)(?![a-z])|s/b(?![a-z])"
)
_TRADE = re.compile(
    r"(?<![a-z])(restaurant|restoran|hotel|khach\s*san|bakery|bakeries|stationery|mart|"
    r"supply|supplies|store|stores|shop|centre|center|hardware|petrokiosk|cafe|house)(?![a-z])"
)
# a continuation row that completes a name broken over two rows: the company suffix, maybe
# after trade words (``RESTAURANT SDN BHD``, ``ENTERPRISE (BUKIT``), or a row that begins
# with ``&`` (``& SCONE (M) SDN. BHD.``)
_LEADING_TRADE = (
    r"(restaurant|restoran|bakery|bakeries|stationery|trading|enterprise|hardware|"
    r"supplies|store|stores|mart|book|books|food|foods)"
)
_CONTINUATION = re.compile(
    rf"^({_LEADING_TRADE}\s*)+(\(|$)"
    rf"|^({_LEADING_TRADE}\s+)*(co\.?\s*(\(m\))?\s*)?(sdn\.?\s*bhd|bhd|s/b|co\.?,?\s*ltd)\b"
    r"|^(&|and\s)"
)
_NOT_NAME = re.compile(
    r"(?<![a-z])(jalan|jln|lot|taman|tmn|no\s*[.:]|street|st\.|road|rd\.|lorong|persiaran|"
    r"kawasan|bandar|seksyen|level|floor|flr|blk|block|unit|tel|fax|phone|h/p|hp|mobile|"
    r"whatsapp|gst|sst|vat|reg|roc|co\.?\s*no|company\s*no|tax|invoice|receipt|bill|"
    r"www|http|@|\.com|email|welcome|thank|formerly|licensee|dia\s*chi|dien\s*thoai|mst|"
    r"ma\s*so\s*thue|hoa\s*don|phieu|date|time|cashier|table)(?![a-z])"
)
_REGISTRATION = re.compile(
    r"\s*[(\[]?\s*(co\.?\s*(reg\.?|no\.?)\s*:?\s*)?[a-z]{0,3}\d{4,}[\s-]*[a-z]?\s*[)\]]?\s*$"
)
_REGISTRATION_ROW = re.compile(
    r"(?<![a-z])(company|co\.?)\s*(no|reg|registration)(?![a-z])|(?<![a-z])roc(?![a-z])"
)
SUFFIXED = 0.95  # a name with a company suffix
# evidence that the name as read may not be the name as printed or as wanted
NOISY = 0.8  # OCR noise in it: an odd character, an unbalanced bracket, a lowercase first letter
HYPHEN = 0.9  # a hyphen between two words (``PAPAN-YEW``): printed, or a speck read as one
LONG_JOIN = 0.9  # a name joined from three rows
PLAIN = 0.7  # a name without one
CLOSE = 1.0  # a runner-up this near in score: the pick is a guess
GUESS = 0.7


@dataclass(frozen=True)
class VendorPick:
    value: str
    confidence: float
    row_index: int


def _strip_registration(text: str) -> str:
    """``MIZU MENTAI SDN. BHD. (1248446-V)`` -> ``MIZU MENTAI SDN. BHD.``; anything after the
    registration number (``... SB(306295-X) FKA BISON STORES SB``) goes too."""
    cut = re.search(r"\s*[(\[]\s*\d{4,}[\s-]*[A-Za-z]?\s*[)\]]", text)
    if cut and cut.start() > 0:
        text = text[: cut.start()]
    folded = fold(text).lower()
    match = _REGISTRATION.search(folded)
    if match and match.start() > 0 and re.search(r"\d", match.group(0)):
        text = text[: match.start()]
    text = text.strip(" ,:;-|*")
    # OCR slips in a name: a lowercase l read as I inside a word (``WorId``), S as 5 in S/B,
    # a speck read as a colon between words (``THE: TOAST``)
    text = re.sub(r"(?<=[a-z])I(?=[a-z])", "l", text)
    text = re.sub(r"(?<![\w/])5/B\b", "S/B", text)
    return re.sub(r"(?<=[^\W\d_]):\s+(?=[^\W\d_])", " ", text)


def _letters(text: str) -> float:
    chars = [c for c in text if not c.isspace()]
    return sum(c.isalpha() for c in chars) / len(chars) if chars else 0.0


def _score(text: str, index: int) -> tuple[float, bool] | None:
    folded = fold(text).lower()
    if len(re.findall(r"[a-z]", folded)) < 3 or _letters(text) < 0.6:
        return None  # a code, a number, a date
    if text.startswith("(") or _REGISTRATION_ROW.search(folded):
        return None  # a note in brackets (``(FORMERLY ...)``), a registration number's label
    legal, trade = bool(_LEGAL.search(folded)), bool(_TRADE.search(folded))
    if _NOT_NAME.search(folded) and not legal:
        return None
    if re.search(r"\d{2}[/.-]\d{2}[/.-]\d{2,4}|\d{1,2}:\d{2}", folded):
        return None
    letters = [c for c in text if c.isalpha()]
    upper = sum(c.isupper() for c in letters) / len(letters)
    kind = 3.0 if legal else (2.0 if trade else 0.0)
    score = kind + (1.0 - index / TOP_ROWS) + 0.5 * upper
    return score, legal or trade


def noise_factor(name: str) -> float:
    """How far a name read by OCR is to be trusted as spelled (see NOISY, HYPHEN)."""
    factor = 1.0
    words = re.findall(r"[^\W\d_]+", name)
    odd = re.search(r"[{}\[\]|\\~^_<>=;\"?!*#%$]", name)
    unbalanced = name.count("(") != name.count(")")
    # ``buardian Health And Beauty``: a word that should start with a capital does not
    capitals = [w[0].isupper() for w in words if len(w) > 2]
    lowered = bool(capitals) and not capitals[0] and sum(capitals) >= 2
    if odd or unbalanced or lowered:
        factor *= NOISY
    if re.search(r"[^\W\d_]{2}-[^\W\d_]{2}", name):
        factor *= HYPHEN
    return factor


def _joined(rows: Sequence[Row], index: int) -> tuple[str, float, int]:
    """The row's text with the rows that continue it (see _CONTINUATION; an unclosed
    bracket pulls in the next row too), the lowest OCR confidence among them, and the index
    of the last row taken."""
    text = nfc(rows[index].text).strip()
    confidence = rows[index].confidence
    last = index
    while last + 1 < len(rows) and last - index < 2:
        following = nfc(rows[last + 1].text).strip()
        folded = fold(following).lower()
        unclosed = text.count("(") > text.count(")")
        suffixed = bool(_LEGAL.search(fold(text).lower()))
        if not unclosed and (suffixed or not _CONTINUATION.search(folded)):
            break
        if _NOT_NAME.search(folded) and not _LEGAL.search(folded):
            break
        text = f"{text} {following}"
        confidence = min(confidence, rows[last + 1].confidence)
        last += 1
    return text, confidence, last


def pick_vendor(rows: Sequence[Row]) -> VendorPick | None:
    """The seller's name (see the module doc), or None when no top row looks like one. The
    confidence is lowered where the evidence is weak: a runner-up close behind, OCR noise in
    the name, a name joined from three rows."""
    scored: list[tuple[float, bool, int, str, float, int]] = []
    joined = -1  # the last continuation row already part of a name above it
    for index in range(min(TOP_ROWS, len(rows))):
        if index <= joined:
            continue
        text, confidence, last = _joined(rows, index)
        joined = last
        name = _strip_registration(text)
        found = _score(name, index)
        if found is None:
            continue
        scored.append((found[0], found[1], index, name, confidence, last - index + 1))
    if not scored:
        return None
    ranked = sorted(scored, key=lambda item: -item[0])
    score, suffixed, index, name, confidence, taken = ranked[0]
    factor = SUFFIXED if suffixed else PLAIN
    if len(ranked) > 1 and score - ranked[1][0] < CLOSE:
        factor *= GUESS
    factor *= noise_factor(name)
    if taken > 2:
        factor *= LONG_JOIN
    return VendorPick(name, round(max(0.0, min(1.0, confidence * factor)), 3), index)
