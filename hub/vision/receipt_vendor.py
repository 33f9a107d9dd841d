"""The seller's name on a receipt, from its OCR rows (pure).

Candidates are the rows near the top of the page. Each is scored by a company suffix (``SDN
BHD``, ``S/B``, ``ENTERPRISE``, ``TRADING``, ``RESTAURANT``, ``CÔNG TY``, ``CO., LTD``...), its
place (higher is better), capitals, and how much of it is letters; rows that are an address, a
phone, a registration or tax number, a title (``TAX INVOICE``), a date or a code are not
candidates. A trailing registration number (``(65351-M)``, ``862725-U``) is cut off, and a name
broken over two or three rows (``POPULAR BOOK`` / ``CO. (M) SDN BHD``, ``... VEGETARIAN`` /
``RESTAURANT SDN BHD``, ``THE TEAPOT HOUSE`` / ``& SCONE``, an unclosed bracket) is joined. The
confidence (``vendor_confidence``, pure) is the name's OCR confidence times a factor per piece
of evidence, each sized by how often such picks were right on the development parts of the
real receipt set (see docs/receipt-fields.md): only a legal-suffixed name, first of the
name-like rows, well ahead of the runner-up and read without OCR noise or mending stays at
0.9 or above; callers flag a vendor under ``FLAG_BELOW`` for a human."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

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
# a row that says the name below it is the owner's, not the shop's (``Owned By :``)
_OWNER_ROW = re.compile(r"(?<![a-z])(owned|operated|managed|a\s*member\s*of)(?![a-z])")
# Factors of the confidence. The rates in brackets: picks of that kind right / all, on the dev,
# held-out and fresh parts of the real receipt set (90 SROIE scans; the blind part untouched)
SUFFIXED = 0.95  # a name with a company suffix, SDN BHD, S/B, ENTERPRISE... (52/56)
TRADE = 0.88  # only a trade word, RESTORAN, MART, SHOP...: a brand as often as a company (7/9)
PLAIN = 0.7  # neither (10/11; under FLAG_BELOW with a name-like runner-up close behind)
# evidence that the name as read may not be the name as printed or as wanted
NOISY = 0.8  # OCR noise in it: an odd character, an unbalanced bracket, a lowercase first letter
HYPHEN = 0.9  # a hyphen between two words (``PAPAN-YEW``): printed, or a speck read as one
MENDED = 0.9  # an OCR slip mended in the name (``5/8`` -> ``S/B``): the row was misread
LONG_JOIN = 0.9  # a name joined from three rows
RIVAL = 0.9  # a clean name-like row above the pick: a brand over its company, or the reverse (4/6)
OWNER = 0.6  # the pick comes right after ``Owned By``: the shop's own name is elsewhere (0/2)
CLOSE = 1.0  # a runner-up this near in score: the pick is a guess
GUESS = 0.7
RIVAL_OCR = 0.9  # a row above read less surely than this is noise, not a rival name


@dataclass(frozen=True)
class VendorEvidence:
    """What a picked vendor's confidence is judged on (see ``vendor_confidence``)."""

    ocr: float  # the lowest OCR confidence among the rows of the name
    suffix: Literal["legal", "trade", "none"]
    close_rival: bool = False  # the runner-up is within CLOSE in score
    rival_above: bool = False  # a clean name-like row above the pick
    owner_above: bool = False  # the row above the pick says "Owned By" / "Operated by"
    noise: float = 1.0  # noise_factor of the name
    mended: bool = False  # an OCR slip in the name was mended
    rows: int = 1  # rows joined into the name


def vendor_confidence(evidence: VendorEvidence) -> float:
    """The vendor's confidence, 0..1: the OCR confidence times a factor per piece of evidence
    (the constants above and the rates they were sized on)."""
    factor = {"legal": SUFFIXED, "trade": TRADE, "none": PLAIN}[evidence.suffix]
    if evidence.close_rival:
        factor *= GUESS
    if evidence.rival_above:
        factor *= RIVAL
    if evidence.owner_above:
        factor *= OWNER
    if evidence.mended:
        factor *= MENDED
    if evidence.rows > 2:
        factor *= LONG_JOIN
    factor *= evidence.noise
    return round(max(0.0, min(1.0, evidence.ocr * factor)), 3)


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
    return text.strip(" ,:;-|*")


def mend(name: str) -> tuple[str, bool]:
    """OCR slips in a name mended, and whether there were any: a lowercase l read as I inside
    a word (``WorId``), S as 5 in S/B (``5/B``), B as 8 in a closing one (``S/8``, ``5/8``), a
    speck read as a colon between words (``THE: TOAST``)."""
    text = re.sub(r"(?<=[a-z])I(?=[a-z])", "l", name)
    text = re.sub(r"(?<![\w/])(5/B(?![\w/])|[5S]/8$)", "S/B", text)
    text = re.sub(r"(?<=[^\W\d_]):\s+(?=[^\W\d_])", " ", text)
    return text, text != name


def _letters(text: str) -> float:
    chars = [c for c in text if not c.isspace()]
    return sum(c.isalpha() for c in chars) / len(chars) if chars else 0.0


def _score(text: str, index: int) -> float | None:
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
    return kind + (1.0 - index / TOP_ROWS) + 0.5 * upper


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
    """The seller's name (see the module doc), or None when no top row looks like one; its
    confidence from the evidence around it (``vendor_confidence``)."""
    scored: list[_Candidate] = []
    joined = -1  # the last continuation row already part of a name above it
    for index in range(min(TOP_ROWS, len(rows))):
        if index <= joined:
            continue
        text, confidence, last = _joined(rows, index)
        joined = last
        name, mended = mend(_strip_registration(text))
        found = _score(name, index)
        if found is None:
            continue
        scored.append(_Candidate(found, index, name, confidence, last - index + 1, mended))
    if not scored:
        return None
    ranked = sorted(scored, key=lambda item: -item.score)
    pick = ranked[0]
    folded = fold(pick.name).lower()
    above = fold(rows[pick.index - 1].text).lower() if pick.index > 0 else ""
    evidence = VendorEvidence(
        ocr=pick.ocr,
        suffix="legal" if _LEGAL.search(folded) else ("trade" if _TRADE.search(folded) else "none"),
        # an address or a code close behind (``40170 SETIA ALAM``) is no rival name
        close_rival=any(
            pick.score - other.score < CLOSE and not re.search(r"\d", other.name)
            for other in ranked[1:]
        ),
        rival_above=any(_is_rival(other) for other in scored if other.index < pick.index),
        owner_above=bool(_OWNER_ROW.search(above)),
        noise=noise_factor(pick.name),
        mended=pick.mended,
        rows=pick.rows,
    )
    return VendorPick(pick.name, vendor_confidence(evidence), pick.index)


@dataclass(frozen=True)
class _Candidate:
    score: float
    index: int  # its first row
    name: str
    ocr: float  # the lowest OCR confidence among its rows
    rows: int
    mended: bool


def _is_rival(candidate: _Candidate) -> bool:
    """A name-like row above the pick that reads as a name of its own (a brand, a shop name):
    read surely, starting with a capital, no digits; not OCR noise (``signatu``, ``rOSTED``)."""
    name = candidate.name
    return candidate.ocr >= RIVAL_OCR and name[:1].isupper() and not re.search(r"\d", name)
