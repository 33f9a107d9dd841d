"""Message templates (pure): notifications, e-mails, apologies and check-in instructions in
Vietnamese and English, with a plain-text body and an HTML body whose field values are escaped.

:func:`render_notification` is what the flows use::

    render_notification("late_arrival", "vi", {"employee_name": "An", ...}) -> GeneratedMessage

Each template names its required and optional fields (:data:`TEMPLATE_FIELDS`); an unknown kind
raises :class:`UnknownTemplateError` (a ``KeyError``), a required field that is missing or blank
raises :class:`MissingFieldError` (a ``ValueError``). Extra fields are ignored.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, get_args

Lang = Literal["vi", "en"]
LANGS: tuple[str, ...] = get_args(Lang)

MAX_FIELD_CHARS = 2000


class UnknownTemplateError(KeyError):
    """No template of that kind (the message lists the known kinds)."""

    def __str__(self) -> str:  # KeyError's str() would quote the message
        return str(self.args[0]) if self.args else "unknown template"


class MissingFieldError(ValueError):
    """A required template field is missing or blank; ``fields`` names them."""

    def __init__(self, kind: str, fields: list[str]) -> None:
        super().__init__(f"template {kind!r} needs the field(s): {', '.join(fields)}")
        self.kind = kind
        self.fields = fields


@dataclass(frozen=True, slots=True)
class GeneratedMessage:
    subject: str
    body: str
    html: str


@dataclass(frozen=True, slots=True)
class _Text:
    subject: str
    paragraphs: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _Template:
    required: tuple[str, ...]
    optional: Mapping[str, Mapping[str, str]]  # field -> default per language
    texts: Mapping[str, _Text]  # language -> text


_HOTEL = {"vi": "khách sạn", "en": "the hotel"}

# Hazard words for hazard_alert (the ``hazard`` field may be a HazardKind value or free text).
HAZARD_NAMES: Mapping[str, Mapping[str, str]] = {
    "fire": {"vi": "cháy", "en": "fire"},
    "smoke": {"vi": "khói", "en": "smoke"},
    "water": {"vi": "rò rỉ nước", "en": "water leak"},
    "intrusion": {"vi": "xâm nhập trái phép", "en": "intrusion"},
    "fall": {"vi": "người bị ngã", "en": "a person falling"},
}

_TEMPLATES: dict[str, _Template] = {
    # -- notifications used by the flows -----------------------------------------------------
    "late_arrival": _Template(
        required=("employee_name", "shift_start", "arrived_at", "minutes_late"),
        optional={"supervisor_name": {"vi": "Anh/Chị", "en": "Hello"}},
        texts={
            "vi": _Text(
                "Đi muộn: {employee_name} trễ {minutes_late} phút",
                (
                    "{supervisor_name},",
                    "Nhân viên {employee_name} vào ca lúc {arrived_at}, trễ {minutes_late} phút "
                    "so với giờ bắt đầu ca {shift_start}.",
                    "Vui lòng kiểm tra và sắp xếp nhân sự nếu cần.",
                    "Hệ thống innsight",
                ),
            ),
            "en": _Text(
                "Late arrival: {employee_name} is {minutes_late} minutes late",
                (
                    "{supervisor_name},",
                    "{employee_name} checked in at {arrived_at}, {minutes_late} minutes after "
                    "the shift start of {shift_start}.",
                    "Please check and rearrange the staffing if needed.",
                    "innsight",
                ),
            ),
        },
    ),
    "room_ready": _Template(
        required=("guest_name", "room_number"),
        optional={"hotel_name": _HOTEL},
        texts={
            "vi": _Text(
                "Phòng {room_number} của quý khách đã sẵn sàng",
                (
                    "Kính gửi quý khách {guest_name},",
                    "Phòng {room_number} đã được dọn dẹp và sẵn sàng đón quý khách. Quý khách "
                    "vui lòng đến quầy lễ tân để nhận chìa khóa phòng.",
                    "Trân trọng,\nBộ phận lễ tân {hotel_name}",
                ),
            ),
            "en": _Text(
                "Your room {room_number} is ready",
                (
                    "Dear {guest_name},",
                    "Room {room_number} has been cleaned and is ready for you. Please come to "
                    "the front desk to collect your key.",
                    "Kind regards,\nThe front desk of {hotel_name}",
                ),
            ),
        },
    ),
    "request_confirmation": _Template(
        required=("guest_name", "room_number", "request"),
        optional={
            "eta": {"vi": "trong thời gian sớm nhất", "en": "as soon as possible"},
            "hotel_name": _HOTEL,
        },
        texts={
            "vi": _Text(
                "Đã tiếp nhận yêu cầu của quý khách (phòng {room_number})",
                (
                    "Kính gửi quý khách {guest_name},",
                    "Chúng tôi đã nhận được yêu cầu của quý khách tại phòng {room_number}: "
                    "{request}. Nhân viên sẽ phục vụ quý khách {eta}.",
                    "Xin cảm ơn quý khách,\nBộ phận lễ tân {hotel_name}",
                ),
            ),
            "en": _Text(
                "We received your request (room {room_number})",
                (
                    "Dear {guest_name},",
                    "We have received your request for room {room_number}: {request}. "
                    "Our staff will take care of it {eta}.",
                    "Thank you,\nThe front desk of {hotel_name}",
                ),
            ),
        },
    ),
    "lost_item_found": _Template(
        required=("guest_name", "item", "found_at"),
        optional={
            "pickup_location": {"vi": "quầy lễ tân", "en": "the front desk"},
            "hotel_name": _HOTEL,
        },
        texts={
            "vi": _Text(
                "Chúng tôi đã tìm thấy đồ thất lạc của quý khách: {item}",
                (
                    "Kính gửi quý khách {guest_name},",
                    "Chúng tôi vui mừng thông báo đã tìm thấy {item} của quý khách tại "
                    "{found_at}. Quý khách có thể nhận lại tại {pickup_location}; vui lòng "
                    "mang theo giấy tờ tùy thân.",
                    "Trân trọng,\nBộ phận lễ tân {hotel_name}",
                ),
            ),
            "en": _Text(
                "We found your lost item: {item}",
                (
                    "Dear {guest_name},",
                    "We are glad to let you know that we found your {item} at {found_at}. You "
                    "can collect it at {pickup_location}; please bring an identity document.",
                    "Kind regards,\nThe front desk of {hotel_name}",
                ),
            ),
        },
    ),
    "hazard_alert": _Template(
        required=("hazard", "location", "detected_at"),
        optional={
            "severity": {"vi": "cao", "en": "high"},
            "camera_id": {"vi": "không rõ", "en": "unknown"},
        },
        texts={
            "vi": _Text(
                "[CẢNH BÁO] Phát hiện {hazard} tại {location}",
                (
                    "Hệ thống camera phát hiện {hazard} tại {location} lúc {detected_at} "
                    "(camera {camera_id}, mức độ {severity}).",
                    "Vui lòng kiểm tra ngay và xác nhận cảnh báo này. Nếu có nguy hiểm, hãy "
                    "thực hiện quy trình khẩn cấp.",
                ),
            ),
            "en": _Text(
                "[ALERT] Hazard detected: {hazard} at {location}",
                (
                    "The cameras detected {hazard} at {location} at {detected_at} "
                    "(camera {camera_id}, severity {severity}).",
                    "Please check immediately and acknowledge this alert. If there is danger, "
                    "follow the emergency procedure.",
                ),
            ),
        },
    ),
    # -- guest correspondence (/generate/email | apology | checkin-instructions) --------------
    "booking_confirmation": _Template(
        required=("guest_name", "check_in", "check_out"),
        optional={
            "room_type": {"vi": "theo đặt phòng", "en": "as booked"},
            "total_amount": {"vi": "theo đặt phòng", "en": "as booked"},
            "booking_ref": {"vi": "(không có)", "en": "(none)"},
            "hotel_name": _HOTEL,
        },
        texts={
            "vi": _Text(
                "Xác nhận đặt phòng - {hotel_name}",
                (
                    "Kính gửi Quý khách {guest_name},",
                    "Chúng tôi xác nhận đã nhận được đặt phòng của Quý khách:\n"
                    "- Mã đặt phòng: {booking_ref}\n"
                    "- Loại phòng: {room_type}\n"
                    "- Ngày nhận phòng: {check_in}\n"
                    "- Ngày trả phòng: {check_out}\n"
                    "- Tổng tiền: {total_amount}",
                    "Nếu cần thay đổi, Quý khách vui lòng liên hệ quầy lễ tân.",
                    "Trân trọng,\nBộ phận lễ tân {hotel_name}",
                ),
            ),
            "en": _Text(
                "Booking confirmation - {hotel_name}",
                (
                    "Dear {guest_name},",
                    "We confirm your booking:\n"
                    "- Booking reference: {booking_ref}\n"
                    "- Room type: {room_type}\n"
                    "- Check-in: {check_in}\n"
                    "- Check-out: {check_out}\n"
                    "- Total: {total_amount}",
                    "If you need to change anything, please contact the front desk.",
                    "Kind regards,\nThe front desk of {hotel_name}",
                ),
            ),
        },
    ),
    "email": _Template(
        required=("guest_name", "topic", "message"),
        optional={"hotel_name": _HOTEL},
        texts={
            "vi": _Text(
                "{topic}",
                (
                    "Kính gửi quý khách {guest_name},",
                    "{message}",
                    "Nếu cần hỗ trợ thêm, quý khách vui lòng liên hệ quầy lễ tân.",
                    "Trân trọng,\nBộ phận lễ tân {hotel_name}",
                ),
            ),
            "en": _Text(
                "{topic}",
                (
                    "Dear {guest_name},",
                    "{message}",
                    "If you need anything else, please contact the front desk.",
                    "Kind regards,\nThe front desk of {hotel_name}",
                ),
            ),
        },
    ),
    "apology": _Template(
        required=("guest_name", "issue"),
        optional={
            "remedy": {
                "vi": "Chúng tôi đã khắc phục sự việc và sẽ làm tốt hơn.",
                "en": "We have resolved the matter and will do better.",
            },
            "hotel_name": _HOTEL,
        },
        texts={
            "vi": _Text(
                "Lời xin lỗi từ {hotel_name}",
                (
                    "Kính gửi quý khách {guest_name},",
                    "Chúng tôi thành thật xin lỗi quý khách về sự việc: {issue}. Đây không phải "
                    "là trải nghiệm mà chúng tôi mong muốn mang đến cho quý khách.",
                    "{remedy}",
                    "Một lần nữa, chúng tôi chân thành xin lỗi và cảm ơn sự thông cảm của "
                    "quý khách.\nTrân trọng,\nBộ phận lễ tân {hotel_name}",
                ),
            ),
            "en": _Text(
                "Our apologies from {hotel_name}",
                (
                    "Dear {guest_name},",
                    "We sincerely apologise for the following: {issue}. This is not the "
                    "experience we want you to have with us.",
                    "{remedy}",
                    "Once again, please accept our apologies, and thank you for your "
                    "understanding.\nKind regards,\nThe front desk of {hotel_name}",
                ),
            ),
        },
    ),
    "checkin_instructions": _Template(
        required=("guest_name", "check_in_date"),
        optional={
            "room_number": {"vi": "sẽ được thông báo khi nhận phòng", "en": "assigned at check-in"},
            "check_in_time": {"vi": "14:00", "en": "14:00"},
            "check_out_date": {"vi": "theo đặt phòng", "en": "as booked"},
            "booking_ref": {"vi": "(không có)", "en": "(none)"},
            "hotel_name": _HOTEL,
        },
        texts={
            "vi": _Text(
                "Hướng dẫn nhận phòng ngày {check_in_date}",
                (
                    "Kính gửi quý khách {guest_name},",
                    "Cảm ơn quý khách đã đặt phòng. Thông tin lưu trú:\n"
                    "- Mã đặt phòng: {booking_ref}\n"
                    "- Ngày nhận phòng: {check_in_date}, từ {check_in_time}\n"
                    "- Ngày trả phòng: {check_out_date}\n"
                    "- Phòng: {room_number}",
                    "Khi đến, quý khách vui lòng xuất trình căn cước công dân hoặc hộ chiếu tại "
                    "quầy lễ tân để làm thủ tục nhận phòng.",
                    "Chúc quý khách một kỳ nghỉ vui vẻ!\nBộ phận lễ tân {hotel_name}",
                ),
            ),
            "en": _Text(
                "Check-in instructions for {check_in_date}",
                (
                    "Dear {guest_name},",
                    "Thank you for your booking. Your stay:\n"
                    "- Booking reference: {booking_ref}\n"
                    "- Check-in: {check_in_date}, from {check_in_time}\n"
                    "- Check-out: {check_out_date}\n"
                    "- Room: {room_number}",
                    "On arrival, please show your ID card or passport at the front desk to "
                    "check in.",
                    "We wish you a pleasant stay!\nThe front desk of {hotel_name}",
                ),
            ),
        },
    ),
}

NOTIFICATION_KINDS: tuple[str, ...] = (
    "late_arrival",
    "room_ready",
    "request_confirmation",
    "lost_item_found",
    "hazard_alert",
)
# What each /generate route renders (template_type): the e-mail route any guest message, the
# apology and check-in routes their own kind.
GUEST_KINDS: tuple[str, ...] = (
    "booking_confirmation",
    "email",
    "apology",
    "checkin_instructions",
    "room_ready",
    "request_confirmation",
    "lost_item_found",
)
TEMPLATE_FIELDS: Mapping[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    kind: (t.required, tuple(t.optional)) for kind, t in _TEMPLATES.items()
}

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _clean(value: str) -> str:
    """NFC (so composed Vietnamese letters stay composed), no control characters, bounded."""
    text = _CONTROL.sub("", unicodedata.normalize("NFC", value)).replace("\r\n", "\n")
    return text.strip()[:MAX_FIELD_CHARS]


def _values(kind: str, template: _Template, lang: str, fields: Mapping[str, str]) -> dict[str, str]:
    values = {name: _clean(str(v)) for name, v in fields.items() if v is not None}
    missing = [name for name in template.required if not values.get(name)]
    if missing:
        raise MissingFieldError(kind, missing)
    for name, defaults in template.optional.items():
        if not values.get(name):
            values[name] = defaults[lang]
    if kind == "hazard_alert":
        names = HAZARD_NAMES.get(values["hazard"].lower())
        if names is not None:
            values["hazard"] = names[lang]
    return values


def render(kind: str, lang: Lang, fields: Mapping[str, str]) -> GeneratedMessage:
    """Any template (notification or correspondence) in ``lang``."""
    template = _TEMPLATES.get(kind)
    if template is None:
        raise UnknownTemplateError(
            f"no template {kind!r}; known kinds: {', '.join(sorted(_TEMPLATES))}"
        )
    if lang not in LANGS:
        raise ValueError(f"language must be one of {', '.join(LANGS)}, not {lang!r}")
    values = _values(kind, template, lang, fields)
    text = template.texts[lang]
    one_line = {name: " ".join(v.split()) for name, v in values.items()}
    subject = text.subject.format(**one_line)
    subject = subject[0].upper() + subject[1:] if subject else subject
    paragraphs = [p.format(**values) for p in text.paragraphs]
    return GeneratedMessage(subject=subject, body="\n\n".join(paragraphs), html=_html(paragraphs))


def _html(paragraphs: list[str]) -> str:
    return "".join(
        "<p>" + html.escape(p).replace("\n", "<br>\n") + "</p>\n" for p in paragraphs if p
    )


def format_amount(value: float, lang: Lang, currency: str | None = None) -> str:
    """``5000000`` -> ``5.000.000`` (vi) or ``5,000,000`` (en); two decimals when it has
    cents; the currency code after it when given."""
    text = f"{value:,.2f}" if value != int(value) else f"{int(value):,}"
    if lang == "vi":
        text = text.replace(",", "\x00").replace(".", ",").replace("\x00", ".")
    return f"{text} {currency}" if currency else text


def booking_fields(facts: Mapping[str, str], lang: Lang) -> dict[str, str]:
    """Template fields from a booking's facts (``SqlHotelData.booking_facts``): the dates also
    under the booking-confirmation names, the amount formatted with its currency."""
    fields = {k: v for k, v in facts.items() if k not in ("nationality", "currency")}
    if "check_in_date" in fields:
        fields["check_in"] = fields["check_in_date"]
    if "check_out_date" in fields:
        fields["check_out"] = fields["check_out_date"]
    if "total_amount" in fields:
        try:
            amount = float(fields["total_amount"])
        except ValueError:
            pass
        else:
            fields["total_amount"] = format_amount(amount, lang, facts.get("currency"))
    return fields


def message_from_text(subject: str, body: str) -> GeneratedMessage:
    """A message from a plain body (e.g. the LLM's rewrite): NFC, control characters removed,
    paragraphs at blank lines, HTML escaped."""
    clean = _CONTROL.sub("", unicodedata.normalize("NFC", body)).replace("\r\n", "\n").strip()
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", clean) if p.strip()]
    return GeneratedMessage(subject=subject, body="\n\n".join(paragraphs), html=_html(paragraphs))


def render_notification(kind: str, lang: Lang, fields: Mapping[str, str]) -> GeneratedMessage:
    """A notification for the flows (kinds in :data:`NOTIFICATION_KINDS`)."""
    if kind not in NOTIFICATION_KINDS:
        raise UnknownTemplateError(
            f"no notification {kind!r}; known kinds: {', '.join(NOTIFICATION_KINDS)}"
        )
    return render(kind, lang, fields)


def html_document(message: GeneratedMessage, lang: Lang) -> str:
    """A complete HTML e-mail document around ``message.html`` (subject escaped as title)."""
    return (
        f'<!DOCTYPE html>\n<html lang="{lang}">\n<head><meta charset="utf-8">'
        f"<title>{html.escape(message.subject)}</title></head>\n<body>\n{message.html}</body>\n"
        "</html>\n"
    )
