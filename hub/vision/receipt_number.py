"""The invoice (receipt, bill, document) number of a receipt, from its OCR rows (pure).

A candidate is the code that follows a number label on the same row: ``Invoice No``,
``INV#``, ``Receipt #``, ``Bill No``, ``CB#``, ``Doc No``, ``Slip``, ``Sales No``, ``Số HĐ``,
``Hóa đơn số``, or a ``No.`` under a ``TAX INVOICE`` title. A code holds a digit and is not a
date or a time; ``V042- 520388`` is joined, and an O or I read between digits becomes 0 or 1.
Labels rank invoice > receipt > document > bill > the rest; the confidence is the row's OCR
confidence, lower for a bare label (no ``No``/``#``) or a corrected code, and lower again when
another label on the page gives a different code; callers flag one under ``FLAG_BELOW``."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from hub.vision.ocr_text import Row, alnum_skeleton, fold

_KINDS = (
    ("invoice", r"(?:tax\s*)?inv[o0d]ice|cash\s*inv|inv|so\s*hd|so\s*hoa\s*don|hoa\s*don\s*so"),
    ("receipt", r"receipt|rcpt|bien\s*lai\s*so"),
    ("document", r"doc(?:ument)?"),
    ("bill", r"[b8][i1l][l1i]{2}|cb"),  # ``Bi11#``, ``8111#``: OCR reads l as 1, B as 8
    ("other", r"slip|slio|sales"),
)
_MARK = r"\s*(?:no\b\.?|n[uo][mn]ber|num\b|nr\b|#)"  # ``nunber``: an OCR slip
_LABEL = re.compile(
    "|".join(
        rf"(?P<{kind}>(?<![a-z0-9])(?:{words}))(?=no|num|[^a-z]|$)(?P<{kind}_mark>{_MARK})?"
        for kind, words in _KINDS
    )
)
_RANK = {kind: rank for rank, (kind, _) in enumerate(_KINDS)}
_CODE = re.compile(r"[^\W_](?:[^\W_]|/|[-.](?=[^\W_])|-\s(?=\d))*")
_DATE_OR_TIME = re.compile(r"^\d{1,4}[/.-]\d{1,2}[/.-]\d{1,4}$|^\d{1,2}:\d{2}")
_NO_UNDER_TITLE = re.compile(r"^no\s*[.:]\s*")
# full-width punctuation some printers use (``CB#\uff1a398313``)
_FULL_WIDTH = str.maketrans({"\uff1a": ":", "\uff03": "#", "\uff0e": "."})

MARKED = 0.95  # ``Invoice No``, ``INV#``
BARE = 0.8  # ``INVOICE : 000-074020``, ``BILL 1856-608``
CORRECTED = 0.85  # an O or I between digits was changed
DISAGREE = 0.6  # another label on the page gives another code: always flagged


@dataclass(frozen=True)
class NumberPick:
    value: str
    confidence: float
    row_index: int
    kind: str


@dataclass(frozen=True)
class _Candidate:
    value: str
    kind: str
    factor: float
    row_index: int
    confidence: float


def _code(rest: str) -> tuple[str, bool] | None:
    """The code at the start of ``rest`` (separators skipped) and whether it was corrected."""
    rest = rest.lstrip(" \t:.#|;-_")
    match = _CODE.match(rest)
    if match is None:
        return None
    code = re.sub(r"\s+", "", match.group(0)).rstrip(".-/")
    fixed = re.sub(r"(?<=\d)[OoÓóQ](?=\d)", "0", code)
    fixed = re.sub(r"(?<=\d)[Il|](?=\d)", "1", fixed)
    fixed = re.sub(r"(?<=[a-z]{2})1+", lambda m: "l" * len(m.group(0)), fixed)  # ``nu11``
    if not re.search(r"\d", fixed) or _DATE_OR_TIME.search(fixed):
        return None
    return fixed, fixed != code


def _candidates(rows: Sequence[Row]) -> list[_Candidate]:
    out: list[_Candidate] = []
    for index, row in enumerate(rows):
        text = row.text.translate(_FULL_WIDTH)
        folded = fold(text).lower()
        for match in _LABEL.finditer(folded):
            kind = match.lastgroup or ""
            kind = kind.removesuffix("_mark")
            # ``Số HĐ``, ``Hóa đơn số``: the "số" is the "No."
            marked = match.group(f"{kind}_mark") is not None or bool(
                re.search(r"^so\s|\sso$", match.group(kind))
            )
            rest = text[match.end() :]
            if not marked and not re.match(r"\s*[:#]|\d", rest) and kind != "bill":
                continue  # ``TAX INVOICE``, ``RECEIPT``: a title, not a label
            found = _code(rest)
            if found is None or (
                not marked and kind == "bill" and len(re.sub(r"\D", "", found[0])) < 4
            ):
                continue
            factor = (MARKED if marked else BARE) * (CORRECTED if found[1] else 1.0)
            out.append(_Candidate(found[0], kind, factor, index, row.confidence))
            break
        else:
            title = index > 0 and re.search(r"invoice\s*$", fold(rows[index - 1].text).lower())
            head = _NO_UNDER_TITLE.match(folded)
            if title and head:
                found = _code(text[head.end() :])
                if found is not None:
                    factor = BARE * (CORRECTED if found[1] else 1.0)
                    out.append(_Candidate(found[0], "invoice", factor, index, row.confidence))
    return out


def pick_invoice_number(rows: Sequence[Row]) -> NumberPick | None:
    """The receipt's own number (see the module doc), or None when no label gives one."""
    found = _candidates(rows)
    if not found:
        return None
    best = min(found, key=lambda c: (_RANK[c.kind], -c.factor, c.row_index))
    factor = best.factor
    same = alnum_skeleton(best.value)
    if any(alnum_skeleton(c.value) != same for c in found if _RANK[c.kind] <= _RANK[best.kind]):
        factor *= DISAGREE
    return NumberPick(
        best.value,
        round(max(0.0, min(1.0, best.confidence * factor)), 3),
        best.row_index,
        best.kind,
    )
