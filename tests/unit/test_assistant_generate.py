"""Message templates: every kind in both languages, Vietnamese diacritics intact (NFC), field
values escaped in HTML and kept on one line in subjects, and the contract's errors."""

from __future__ import annotations

import unicodedata

import pytest

from hub.assistant.generate import (
    NOTIFICATION_KINDS,
    TEMPLATE_FIELDS,
    GeneratedMessage,
    MissingFieldError,
    UnknownTemplateError,
    html_document,
    render,
    render_notification,
)

FULL: dict[str, str] = {
    "employee_name": "Trần Thị Bích",
    "shift_start": "08:00",
    "arrived_at": "08:25",
    "minutes_late": "25",
    "guest_name": "Nguyễn Văn An",
    "room_number": "305",
    "request": "2 khăn tắm",
    "item": "ví da",
    "found_at": "sảnh",
    "hazard": "fire",
    "location": "bếp tầng 1",
    "detected_at": "2026-11-23 20:00",
    "topic": "Thông tin đặt phòng",
    "message": "Phòng của quý khách đã được nâng hạng.",
    "issue": "nước nóng bị gián đoạn",
    "check_in_date": "2026-12-01",
    "check_in": "2026-12-01",
    "check_out": "2026-12-03",
}


@pytest.mark.parametrize("kind", sorted(TEMPLATE_FIELDS))
@pytest.mark.parametrize("lang", ["vi", "en"])
def test_every_template_renders_with_its_required_fields(kind: str, lang: str) -> None:
    required, _optional = TEMPLATE_FIELDS[kind]
    message = render(kind, lang, {name: FULL[name] for name in required})  # type: ignore[arg-type]
    assert isinstance(message, GeneratedMessage)
    assert message.subject
    assert "\n" not in message.subject
    assert "{" not in message.body + message.subject
    assert message.html.startswith("<p>")
    for text in (message.subject, message.body, message.html):
        assert unicodedata.is_normalized("NFC", text)


def test_notification_kinds_are_the_agreed_ones() -> None:
    assert set(NOTIFICATION_KINDS) == {
        "late_arrival",
        "room_ready",
        "request_confirmation",
        "lost_item_found",
        "hazard_alert",
    }


def test_vietnamese_text_has_its_diacritics() -> None:
    ready = render_notification("room_ready", "vi", {"guest_name": "An", "room_number": "201"})
    assert ready.subject == "Phòng 201 của quý khách đã sẵn sàng"
    assert "Kính gửi quý khách An," in ready.body
    assert "nhận chìa khóa phòng" in ready.body
    late = render_notification(
        "late_arrival",
        "vi",
        {
            "employee_name": "Bích",
            "shift_start": "08:00",
            "arrived_at": "08:25",
            "minutes_late": "25",
        },
    )
    assert late.subject == "Đi muộn: Bích trễ 25 phút"
    assert "trễ 25 phút so với giờ bắt đầu ca 08:00" in late.body
    # decomposed input (NFD, as some keyboards send) comes out composed
    nfd = unicodedata.normalize("NFD", "Nguyễn")
    apology = render("apology", "vi", {"guest_name": nfd, "issue": "ồn ào"})
    assert "Nguyễn" in apology.body
    assert "thành thật xin lỗi" in apology.body


def test_hazard_names_are_translated() -> None:
    fields = {"hazard": "smoke", "location": "Hành lang tầng 3", "detected_at": "20:00"}
    vi = render_notification("hazard_alert", "vi", fields)
    en = render_notification("hazard_alert", "en", fields)
    assert vi.subject == "[CẢNH BÁO] Phát hiện khói tại Hành lang tầng 3"
    assert en.subject == "[ALERT] Hazard detected: smoke at Hành lang tầng 3"
    assert "mức độ cao" in vi.body


def test_html_escapes_field_values_and_subject_stays_one_line() -> None:
    evil = '<script>alert("x")</script> & co'
    message = render_notification(
        "request_confirmation",
        "en",
        {"guest_name": evil, "room_number": "305\r\nBcc: a@b.c", "request": "towels"},
    )
    assert "<script>" not in message.html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; co" in message.html
    assert "<script>" in message.body  # plain text keeps the text as typed
    assert "\n" not in message.subject
    assert "\r" not in message.subject
    assert message.subject == "We received your request (room 305 Bcc: a@b.c)"
    document = html_document(message, "en")
    assert document.startswith("<!DOCTYPE html>")
    assert '<html lang="en">' in document


def test_optional_fields_have_language_defaults_and_can_be_given() -> None:
    default = render_notification(
        "lost_item_found", "vi", {"guest_name": "An", "item": "ví", "found_at": "sảnh"}
    )
    assert "quầy lễ tân" in default.body
    given = render_notification(
        "lost_item_found",
        "en",
        {"guest_name": "An", "item": "wallet", "found_at": "lobby", "pickup_location": "room 1"},
    )
    assert "collect it at room 1" in given.body


def test_unknown_kind_and_missing_fields_raise_the_contract_errors() -> None:
    with pytest.raises(UnknownTemplateError, match="no notification 'party'") as unknown:
        render_notification("party", "en", {})
    assert isinstance(unknown.value, KeyError)
    with pytest.raises(UnknownTemplateError):
        render_notification(
            "apology", "en", {"guest_name": "A", "issue": "x"}
        )  # not a notification
    with pytest.raises(MissingFieldError) as missing:
        render_notification("room_ready", "en", {"guest_name": "  "})
    assert isinstance(missing.value, ValueError)
    assert missing.value.fields == ["guest_name", "room_number"]
    with pytest.raises(ValueError, match="language"):
        render("room_ready", "fr", {"guest_name": "A", "room_number": "1"})  # type: ignore[arg-type]


def test_booking_confirmation_formats_the_amount_per_language() -> None:
    from hub.assistant.generate import format_amount

    assert format_amount(5_000_000, "vi", "VND") == "5.000.000 VND"
    assert format_amount(5_000_000, "en") == "5,000,000"
    assert format_amount(1234.5, "vi") == "1.234,50"
    fields = {"guest_name": "John Doe", "check_in": "2025-02-01", "check_out": "2025-02-03",
              "total_amount": format_amount(5_000_000, "vi")}  # fmt: skip
    message = render("booking_confirmation", "vi", fields)
    assert message.subject == "Xác nhận đặt phòng - khách sạn"
    assert "- Tổng tiền: 5.000.000" in message.body
    assert "- Loại phòng: theo đặt phòng" in message.body  # optional, defaulted
