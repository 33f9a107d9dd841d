"""ICAO 9303 machine-readable zones: TD3 (passports, 2 x 44) and TD1 (ID cards, 3 x 30).

Pure. :func:`find_mrz` picks the MRZ lines out of OCR text; :func:`parse_mrz` splits the fields
and verifies every check digit. OCR confusions are undone only where the field's alphabet
allows a single reading (``O`` in a date is ``0``, ``0`` in a name or a country code is ``O``,
``1`` as a document code is ``I``), in the fields and in the lines returned alike. In the
document number, where letters and digits both belong, a look-alike (``O``/``0``, ``Z``/``2``...)
is settled by the check digits only when the number's and the composite check both fail as read
and exactly one swap makes both verify (an OCR misread; a check digit printed wrong leaves the
composite verifying, and stays reported): :attr:`MrzResult.corrected` names it. Any other
mismatch is reported, never "repaired". A passport whose first MRZ line the OCR missed still
gives its second line (number, dates, nationality: every check digit of a TD3 is on that line)
when its check digits verify.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date

FILLER = "<"
TD3_LENGTH = 44
TD1_LENGTH = 30
_WEIGHTS = (7, 3, 1)
_MRZ_CHARS = re.compile(r"^[A-Z0-9<]+$")
# letters OCR reads where a digit is printed, in fields that hold digits only
_TO_DIGIT = str.maketrans(
    {"O": "0", "Q": "0", "D": "0", "I": "1", "L": "1", "Z": "2", "S": "5", "B": "8", "G": "6"}
)
_TO_LETTER = str.maketrans({"0": "O", "1": "I", "2": "Z", "5": "S", "8": "B", "6": "G"})
# OCR-B look-alikes, both ways, tried one at a time in the document number
_LOOK_ALIKE = {"0": "O", "O": "0", "1": "I", "I": "1", "2": "Z", "Z": "2", "5": "S", "S": "5"}
_LOOK_ALIKE |= {"8": "B", "B": "8", "6": "G", "G": "6"}


class MrzError(ValueError):
    """The text holds no MRZ of a known format."""


def char_value(char: str) -> int:
    if char.isdigit():
        return int(char)
    if "A" <= char <= "Z":
        return ord(char) - ord("A") + 10
    if char == FILLER:
        return 0
    raise MrzError(f"{char!r} is not an MRZ character")


def check_digit(value: str) -> str:
    """The ICAO 9303 check digit of ``value`` (weights 7, 3, 1 repeating, modulo 10)."""
    return str(sum(char_value(c) * _WEIGHTS[i % 3] for i, c in enumerate(value)) % 10)


def _check(value: str, digit: str, *, optional: bool = False) -> bool:
    """Whether ``digit`` checks ``value``. An empty optional field may carry ``<`` instead."""
    if optional and set(value) <= {FILLER} and digit in (FILLER, "0"):
        return True
    return digit.isdigit() and check_digit(value) == digit


def normalise_line(text: str) -> str:
    """Upper case, no spaces, common OCR renderings of the filler (guillemets, ``≤``) as ``<``,
    accents dropped (a printed ``Ñ`` is an ``N`` to the MRZ alphabet)."""
    cleaned = text.upper().replace(" ", "").replace("\u00ab", "<<")
    cleaned = cleaned.replace("\u2039", "<").replace("\u2264", "<")
    if cleaned.isascii():
        return cleaned
    decomposed = unicodedata.normalize("NFKD", cleaned)
    return "".join(char for char in decomposed if not unicodedata.combining(char))


def _fit(line: str, length: int) -> str:
    """Pad or trim trailing fillers to ``length`` (OCR miscounts runs of ``<``)."""
    if len(line) < length:
        return line + FILLER * (length - len(line))
    if len(line) > length and set(line[length:]) <= {FILLER}:
        return line[:length]
    return line


def find_mrz(texts: Sequence[str]) -> list[str] | None:
    """The MRZ lines among OCR lines (top to bottom): two TD3 lines or three TD1 lines; or, when
    OCR missed a passport's first line, a lone TD3 second line whose number and date check
    digits verify, behind a first line of fillers (no names, no document code)."""
    candidates = []
    for text in texts:
        line = normalise_line(text)
        if len(line) >= 25 and _MRZ_CHARS.match(line) and (FILLER in line or line.isdigit()):
            candidates.append(line)
    for index in range(len(candidates) - 1):
        first, second = candidates[index], candidates[index + 1]
        if (
            _letters(first[0]) in "PV"
            and abs(len(first) - TD3_LENGTH) <= 4
            and abs(len(second) - TD3_LENGTH) <= 4
        ):
            return [_fit(first, TD3_LENGTH), _fit(second, TD3_LENGTH)]
    for index in range(len(candidates) - 2):
        lines = candidates[index : index + 3]
        if _letters(lines[0][0]) in "IAC" and all(
            abs(len(line) - TD1_LENGTH) <= 3 for line in lines
        ):
            return [_fit(line, TD1_LENGTH) for line in lines]
    for line in candidates:
        if abs(len(line) - TD3_LENGTH) <= 2 and _is_td3_second_line(_fit(line, TD3_LENGTH)):
            return [FILLER * TD3_LENGTH, _fit(line, TD3_LENGTH)]
    return None


def _is_td3_second_line(line: str) -> bool:
    """A 44-character line whose document number, birth and expiry check digits verify."""
    if len(line) != TD3_LENGTH:
        return False
    line = _repair(line, _TD3_LINE2)
    return (
        _check(line[0:9], line[9])
        and _check(line[13:19], line[19])
        and _check(line[21:27], line[27])
        and line[13:19].isdigit()
        and line[21:27].isdigit()
    )


@dataclass(frozen=True)
class MrzResult:
    format: str  # "TD3" | "TD1"
    lines: tuple[str, ...]
    document_code: str
    issuing_state: str
    document_number: str
    surname: str
    given_names: str
    nationality: str
    date_of_birth: date | None
    sex: str | None  # "M" | "F" | None (unspecified)
    expiry_date: date | None
    optional_data: str
    check_digits: dict[str, bool] = field(default_factory=dict)
    corrected: tuple[str, ...] = ()  # fields whose look-alike character the check digits settled

    @property
    def valid(self) -> bool:
        return all(self.check_digits.values())

    @property
    def full_name(self) -> str:
        return " ".join(part for part in (self.surname, self.given_names) if part)


def _digits(value: str) -> str:
    return value.translate(_TO_DIGIT)


def _letters(value: str) -> str:
    return value.translate(_TO_LETTER)


def _date(yymmdd: str, *, future: bool, today: date) -> date | None:
    if not yymmdd.isdigit():
        return None
    yy, mm, dd = int(yymmdd[:2]), int(yymmdd[2:4]), int(yymmdd[4:6])
    century = 2000
    if future:
        if 2000 + yy > today.year + 50:
            century = 1900
    elif 2000 + yy > today.year:
        century = 1900
    try:
        return date(century + yy, mm, dd)
    except ValueError:
        return None


def _birth(yymmdd: str, expiry_yymmdd: str, today: date) -> date | None:
    """The birth date, never in the future and never after the document's expiry (a holder
    born in 1912 reads as 2012 by the first rule alone when the document expired in 2011)."""
    born = _date(yymmdd, future=False, today=today)
    expires = _date(expiry_yymmdd, future=True, today=today)
    if born is not None and expires is not None and born >= expires and born.year >= 2000:
        try:
            return born.replace(year=born.year - 100)
        except ValueError:  # 29 February of a year that was not leap a century before
            return None
    return born


def _names(field_text: str) -> tuple[str, str]:
    surname, _, given = field_text.partition("<<")
    return _words(_letters(surname)), _words(_letters(given))


def _words(part: str) -> str:
    return " ".join(word for word in part.split(FILLER) if word)


def _sex(char: str) -> str | None:
    return char if char in ("M", "F") else None


# Per line, (start, end, alphabet) of the fields whose alphabet is letters only ("A") or digits
# only ("9"); the fields that mix both (document number, optional data) are left as read.
_Layout = tuple[tuple[int, int, str], ...]
# (a document code's second character is left as read: the US Permanent Resident Card's is "C1")
_TD3_LINE1: _Layout = ((0, 1, "A"), (2, 44, "A"))
_TD3_LINE2: _Layout = (
    (9, 10, "9"),
    (10, 13, "A"),
    (13, 20, "9"),
    (21, 28, "9"),
    (42, 44, "9"),
)
_TD1_LINE1: _Layout = ((0, 1, "A"), (2, 5, "A"), (14, 15, "9"))
_TD1_LINE2: _Layout = ((0, 7, "9"), (8, 15, "9"), (15, 18, "A"), (29, 30, "9"))
_TD1_LINE3: _Layout = ((0, 30, "A"),)


def _repair(line: str, layout: _Layout) -> str:
    """``line`` with digits read in letter-only fields turned to letters and the other way
    round (OCR-B ``0``/``O``, ``1``/``I``... look alike); fillers stay fillers."""
    chars = list(line)
    for start, end, alphabet in layout:
        part = line[start:end]
        chars[start:end] = _letters(part) if alphabet == "A" else _digits(part)
    return "".join(chars)


def parse_mrz(lines: Sequence[str], *, today: date | None = None) -> MrzResult:
    """Fields and check-digit verdicts of a TD3 or TD1 MRZ (lines already normalised)."""
    today = today or date.today()
    lines = [normalise_line(line) for line in lines]
    if len(lines) == 2 and all(len(line) == TD3_LENGTH for line in lines):
        repaired = [_repair(lines[0], _TD3_LINE1), _repair(lines[1], _TD3_LINE2)]
        return _settle_number(repaired, 1, 0, lambda ls: _parse_td3(ls[0], ls[1], today))
    if len(lines) == 3 and all(len(line) == TD1_LENGTH for line in lines):
        repaired = [
            _repair(lines[0], _TD1_LINE1),
            _repair(lines[1], _TD1_LINE2),
            _repair(lines[2], _TD1_LINE3),
        ]
        return _settle_number(repaired, 0, 5, lambda ls: _parse_td1(ls[0], ls[1], ls[2], today))
    raise MrzError(
        f"not a TD3 (2 x {TD3_LENGTH}) or TD1 (3 x {TD1_LENGTH}) MRZ: "
        f"{len(lines)} lines of {[len(line) for line in lines]} characters"
    )


def _settle_number(
    lines: list[str], row: int, start: int, parse: Callable[[list[str]], MrzResult]
) -> MrzResult:
    """``parse(lines)``, or, when the document number (``lines[row][start:start + 9]``) and the
    composite both fail, the one reading with a single look-alike swapped in the number that
    makes both verify (none or several: as read)."""
    result = parse(lines)
    checks = result.check_digits
    if checks["document_number"] or checks["composite"]:
        return result
    found: list[MrzResult] = []
    line = lines[row]
    for index in range(start, start + 9):
        swap = _LOOK_ALIKE.get(line[index])
        if swap is None:
            continue
        trial = list(lines)
        trial[row] = line[:index] + swap + line[index + 1 :]
        candidate = parse(trial)
        if candidate.check_digits["document_number"] and candidate.check_digits["composite"]:
            found.append(candidate)
    if len(found) != 1:
        return result
    return replace(found[0], corrected=("document_number",))


def _parse_td3(line1: str, line2: str, today: date) -> MrzResult:
    number, number_cd = line2[0:9], _digits(line2[9])
    nationality = _letters(line2[10:13])
    dob, dob_cd = _digits(line2[13:19]), _digits(line2[19])
    sex = line2[20]
    expiry, expiry_cd = _digits(line2[21:27]), _digits(line2[27])
    personal, personal_cd = line2[28:42], _digits(line2[42]) if line2[42] != FILLER else FILLER
    composite_cd = _digits(line2[43])
    composite = number + number_cd + dob + dob_cd + expiry + expiry_cd + personal + personal_cd
    surname, given = _names(line1[5:44])
    checks = {
        "document_number": _check(number, number_cd),
        "date_of_birth": _check(dob, dob_cd),
        "expiry_date": _check(expiry, expiry_cd),
        "personal_number": _check(personal, personal_cd, optional=True),
        "composite": _check(composite, composite_cd),
    }
    return MrzResult(
        format="TD3",
        lines=(line1, line2),
        document_code=line1[0:2].rstrip(FILLER),
        issuing_state=_letters(line1[2:5]).rstrip(FILLER),
        document_number=number.rstrip(FILLER),
        surname=surname,
        given_names=given,
        nationality=nationality.rstrip(FILLER),
        date_of_birth=_birth(dob, expiry, today),
        sex=_sex(sex),
        expiry_date=_date(expiry, future=True, today=today),
        optional_data=personal.rstrip(FILLER),
        check_digits=checks,
    )


def _parse_td1(line1: str, line2: str, line3: str, today: date) -> MrzResult:
    number, number_cd = line1[5:14], _digits(line1[14])
    optional1 = line1[15:30]
    dob, dob_cd = _digits(line2[0:6]), _digits(line2[6])
    sex = line2[7]
    expiry, expiry_cd = _digits(line2[8:14]), _digits(line2[14])
    nationality = _letters(line2[15:18])
    optional2 = line2[18:29]
    composite_cd = _digits(line2[29])
    composite = line1[5:30] + dob + dob_cd + expiry + expiry_cd + optional2
    surname, given = _names(line3)
    checks = {
        "document_number": _check(number, number_cd),
        "date_of_birth": _check(dob, dob_cd),
        "expiry_date": _check(expiry, expiry_cd),
        "composite": _check(composite, composite_cd),
    }
    return MrzResult(
        format="TD1",
        lines=(line1, line2, line3),
        document_code=line1[0:2].rstrip(FILLER),
        issuing_state=_letters(line1[2:5]).rstrip(FILLER),
        document_number=number.rstrip(FILLER),
        surname=surname,
        given_names=given,
        nationality=nationality.rstrip(FILLER),
        date_of_birth=_birth(dob, expiry, today),
        sex=_sex(sex),
        expiry_date=_date(expiry, future=True, today=today),
        optional_data=(optional1 + optional2).strip(FILLER),
        check_digits=checks,
    )
