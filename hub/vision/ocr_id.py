"""Identity-document fields from OCR rows (pure): Vietnamese citizen identity cards (CCCD, and
the older CMND) by their bilingual labels, passports by their ICAO 9303 MRZ (hub/vision/mrz.py)
with the visual zone as a fallback, each field with a confidence."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date

from hub.vision.mrz import FILLER, MrzError, MrzResult, find_mrz, normalise_line, parse_mrz
from hub.vision.ocr_text import Row, clean_value, find_labels, fold, label_values, nfc, parse_date

HEURISTIC = 0.8
MRZ_CHECKED = 0.99  # a field whose check digit verifies
MRZ_FAILED = 0.3  # a field whose check digit does not

ID_LABELS: dict[str, tuple[str, ...]] = {
    "id_number": (
        "so / no",
        "so dinh danh ca nhan / personal identification number",
        "so dinh danh ca nhan",
        "so cccd",
        "so cmnd",
        "personal identification number",
        "so",
    ),
    "full_name": ("ho va ten / full name", "ho va ten", "ho ten", "full name", "name"),
    "surname": ("ho / surname", "surname"),
    "given_names": ("chu dem va ten / given names", "given names", "given name"),
    "passport_number": (
        "so ho chieu / passport no",
        "so ho chieu",
        "passport no",
        "passport number",
    ),
    "date_of_birth": (
        "ngay sinh / date of birth",
        "ngay, thang, nam sinh / date of birth",
        "ngay, thang, nam sinh",
        "ngay thang nam sinh",
        "ngay sinh",
        "date of birth",
        "sinh ngay",
    ),
    "gender": ("gioi tinh / sex", "gioi tinh", "sex", "gender"),
    "nationality": ("quoc tich / nationality", "quoc tich", "nationality"),
    "place_of_origin": ("que quan / place of origin", "que quan", "place of origin", "nguyen quan"),
    "address": (
        "noi thuong tru / place of residence",
        "noi cu tru / place of residence",
        "noi thuong tru",
        "noi cu tru",
        "place of residence",
        "dia chi",
        "address",
    ),
    "issue_date": (
        "ngay cap / date of issue",
        "ngay, thang, nam / date, month, year",
        "ngay cap",
        "date of issue",
        "issue date",
    ),
    "expiry_date": (
        "co gia tri den / date of expiry",
        "co gia tri den",
        "date of expiry",
        "expiry date",
        "ngay het han",
    ),
}
_TEXT_FIELDS = ("full_name", "surname", "given_names", "nationality", "place_of_origin", "address")
_DATE_FIELDS = ("date_of_birth", "issue_date", "expiry_date")


@dataclass
class IdFields:
    document_type: str | None = None  # cccd | cmnd | passport
    id_number: str | None = None
    full_name: str | None = None
    date_of_birth: date | None = None
    gender: str | None = None  # M | F
    nationality: str | None = None
    place_of_origin: str | None = None
    address: str | None = None
    issue_date: date | None = None
    expiry_date: date | None = None
    mrz: MrzResult | None = None
    confidence: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def _round(value: float) -> float:
    return round(max(0.0, min(1.0, value)), 3)


def document_type_of(texts: Sequence[str], mrz: MrzResult | None) -> str | None:
    folded = fold(" ".join(texts))
    if mrz is not None and mrz.document_code.startswith("P"):
        return "passport"
    if "ho chieu" in folded or "passport" in folded:
        return "passport"
    if "chung minh nhan dan" in folded:
        return "cmnd"
    if "giay phep lai xe" in folded or re.search(r"driv(er'?s?|ing) licen[cs]e", folded):
        return "driver_license"
    if "can cuoc" in folded or "citizen identity" in folded or "identity card" in folded:
        return "cccd"
    if mrz is not None and mrz.format == "TD1":
        return "cccd" if mrz.issuing_state == "VNM" else "id_card"
    return None


def gender_of(value: str) -> str | None:
    folded = fold(value).strip()
    if re.match(r"^(nam|male|m)\b", folded):
        return "M"
    if re.match(r"^(nu|female|f)\b", folded):
        return "F"
    return None


def _id_number(value: str) -> str | None:
    digits = re.sub(r"[\s.]", "", value)
    match = re.search(r"(?<!\d)(\d{12}|\d{9})(?!\d)", digits)
    return match.group(1) if match else None


def _labelled(rows: Sequence[Row]) -> dict[str, tuple[str, float]]:
    """``{field: (value, confidence)}`` from label/value rows; a label alone on its row takes
    the next row (when that row is not itself a label)."""
    found: dict[str, tuple[str, float]] = {}
    for index, row in enumerate(rows):
        values = label_values(row.text, ID_LABELS)
        for name, value in values.items():
            if name in found:
                continue
            confidence = row.confidence
            if not value and index + 1 < len(rows):
                following = rows[index + 1]
                if not find_labels(following.text, ID_LABELS):
                    value = clean_value(following.text)
                    confidence = min(confidence, following.confidence)
            if value:
                found[name] = (nfc(value), confidence)
    return found


SEED_TYPES: dict[str, str] = {
    "cccd": "id_card",
    "cmnd": "id_card",
    "id_card": "id_card",
    "passport": "passport",
    "driver_license": "driver_license",
}
"""What we detect -> the API's document types (id_card | passport | driver_license)."""
_VN = frozenset({"VN", "VNM"})
_ALPHA3 = {"VN": "VNM"}


def seed_type(detected: str | None) -> str | None:
    return SEED_TYPES.get(detected) if detected is not None else None


def parse_id(
    rows: Sequence[Row],
    *,
    today: date | None = None,
    expected: str | None = None,
    country: str | None = None,
) -> IdFields:
    """The fields of an identity document. ``expected`` (id_card | passport | driver_license)
    and ``country`` (ISO 3166 alpha-2 or alpha-3) are what the caller says the document is:
    they stand in for a type the text does not name, allow the bare 12/9-digit number of a
    Vietnamese card, and a disagreement with what is read becomes a warning."""
    result = _parse_id(rows, today=today, expected=expected, country=country)
    detected = seed_type(result.document_type)
    if expected is not None:
        if detected is not None and detected != expected:
            result.warnings.append(
                f"document_type: asked {expected}, the document reads as {detected}"
            )
        if expected == "passport" and result.mrz is None:
            result.warnings.append("document_type: no passport machine-readable zone was found")
    if country is not None and result.mrz is not None and result.mrz.issuing_state:
        wanted = _ALPHA3.get(country.upper(), country.upper())
        if len(wanted) == 3 and wanted != result.mrz.issuing_state:
            result.warnings.append(
                f"country: asked {country}, the MRZ names {result.mrz.issuing_state}"
            )
    return result


def _parse_id(
    rows: Sequence[Row], *, today: date | None, expected: str | None, country: str | None
) -> IdFields:
    texts = [row.text for row in rows]
    result = IdFields()
    mrz_lines = find_mrz(texts)
    if mrz_lines is not None:
        try:
            result.mrz = parse_mrz(mrz_lines, today=today)
        except MrzError as err:
            result.warnings.append(f"mrz: {err}")
    result.document_type = document_type_of(texts, result.mrz)
    if result.document_type:
        result.confidence["document_type"] = 0.95 if result.mrz is None else MRZ_CHECKED
    vietnamese_card = result.document_type in ("cccd", "cmnd") or (
        result.document_type is None
        and expected == "id_card"
        and (country is None or country.upper() in _VN)
    )

    labelled = _labelled(rows)
    for name in _TEXT_FIELDS:
        if name in labelled and name in IdFields.__dataclass_fields__:
            value, confidence = labelled[name]
            setattr(result, name, value)
            result.confidence[name] = _round(confidence)
    if result.full_name is None and ("surname" in labelled or "given_names" in labelled):
        parts = [labelled[key] for key in ("surname", "given_names") if key in labelled]
        result.full_name = " ".join(value for value, _ in parts)
        result.confidence["full_name"] = _round(min(conf for _, conf in parts))
    for name in _DATE_FIELDS:
        if name in labelled:
            parsed = parse_date(labelled[name][0])
            if parsed is not None:
                setattr(result, name, parsed)
                result.confidence[name] = _round(labelled[name][1])
    if "gender" in labelled:
        result.gender = gender_of(labelled["gender"][0])
        if result.gender:
            result.confidence["gender"] = _round(labelled["gender"][1])
    for key in ("id_number", "passport_number"):
        if key in labelled and result.id_number is None:
            value = labelled[key][0]
            number = _id_number(value) if key == "id_number" else _passport_number(value)
            if number:
                result.id_number = number
                result.confidence["id_number"] = _round(labelled[key][1])
    if result.id_number is None and vietnamese_card:
        for row in rows:
            number = _id_number(row.text)
            if number:
                result.id_number = number
                result.confidence["id_number"] = _round(row.confidence * HEURISTIC)
                break
    if result.mrz is not None:
        _apply_mrz(result, result.mrz, rows, today or date.today())
    return result


def _passport_number(value: str) -> str | None:
    match = re.search(r"\b[A-Z0-9]{6,9}\b", value.upper())
    return match.group(0) if match else None


def _name_key(name: str) -> str:
    """A name as the MRZ spells it: accents folded, letters only (``NGUYỄN VĂN AN`` and
    ``NGUYEN<<VAN<AN`` give the same key)."""
    return re.sub(r"[^A-Z]", "", fold(name).upper())


def same_name(visual: str, mrz: MrzResult) -> bool:
    """Whether the visual zone's name is the MRZ's (accents aside); a name field the MRZ fills
    to its last character may be truncated there, and then only has to begin the visual one."""
    visual_key, mrz_key = _name_key(visual), _name_key(mrz.full_name)
    if not mrz_key:
        return False
    truncated = not mrz.lines[-1 if mrz.format == "TD1" else 0].endswith("<")
    return visual_key == mrz_key or (truncated and visual_key.startswith(mrz_key))


def printed_birth_century(born: date, rows: Sequence[Row], *, latest: date) -> date | None:
    """The MRZ's birth date (two-digit year) as the page prints it with four digits: a segment
    holding the same day, month and two-digit year in an earlier century, not after ``latest``
    (``01.01.1911`` for ``110101``, which alone reads as 2011), else None."""
    for row in rows:
        for cell in row.cells:
            found = parse_date(cell.text)
            if (
                found is not None
                and found < born
                and found <= latest
                and str(found.year) in cell.text
                and (found.day, found.month, found.year % 100)
                == (born.day, born.month, born.year % 100)
            ):
                return found
    return None


def _apply_mrz(result: IdFields, mrz: MrzResult, rows: Sequence[Row], today: date) -> None:
    """MRZ values win where their check digit verifies; a failed check keeps the visual-zone
    value when there is one and says so. The visual zone keeps the name when it is the MRZ's
    (its diacritics), else the MRZ's name wins (a label or a second script read as the name);
    a date the page prints with four digits settles the century of the MRZ's two."""
    if not mrz.lines[0].strip(FILLER):
        result.warnings.append("mrz: only the second line was read (no names, no document code)")
    if "document_number" in mrz.corrected:
        result.warnings.append(
            "id_number: a look-alike character of the MRZ (0/O, 2/Z...) settled by its check digits"
        )
    checks = mrz.check_digits
    mrz_rows = [
        row for row in rows if any(normalise_line(row.text)[:20] == line[:20] for line in mrz.lines)
    ]
    line_conf = min((row.confidence for row in mrz_rows), default=0.9)
    candidates: dict[str, tuple[object, str | None]] = {
        "id_number": (mrz.document_number or None, "document_number"),
        "date_of_birth": (mrz.date_of_birth, "date_of_birth"),
        "expiry_date": (mrz.expiry_date, "expiry_date"),
        "full_name": (mrz.full_name or None, None),
        "gender": (mrz.sex, None),
        "nationality": (mrz.nationality or None, None),
    }
    if result.document_type == "cccd" and re.fullmatch(r"\d{12}", mrz.optional_data[:12] or ""):
        candidates["id_number"] = (mrz.optional_data[:12], "document_number")
    for name, (value, check) in candidates.items():
        if value is None:
            continue
        ok = checks.get(check, True) if check else True  # no check digit covers it
        current = getattr(result, name)
        if name == "date_of_birth" and isinstance(value, date):
            latest = min(today, mrz.expiry_date) if mrz.expiry_date else today
            value = printed_birth_century(value, rows, latest=latest) or value
        if ok or current is None:
            if name == "full_name" and current is not None and same_name(current, mrz):
                continue  # the visual zone keeps the diacritics
            if current is not None and current != value and name != "nationality":
                result.warnings.append(f"{name}: the MRZ and the visual zone differ")
            if name == "nationality" and current is not None:
                continue  # the visual zone keeps the printed country name
            setattr(result, name, value)
            factor = MRZ_CHECKED if ok else MRZ_FAILED
            result.confidence[name] = _round(min(line_conf, factor) if ok else factor)
        if not ok:
            result.warnings.append(f"{name}: the MRZ check digit of {check} does not verify")
