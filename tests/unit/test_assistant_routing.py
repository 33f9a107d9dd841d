"""The rule-based request router on labelled English and Vietnamese messages (with and without
diacritics): category, priority, assignee, room number, items, quantity, urgency."""

from __future__ import annotations

import pytest

from hub.assistant.routing import classify, fold

# message, category, priority, room, items, quantity
CASES: list[tuple[str, str, str, str | None, list[str], int | None]] = [
    ("Can I get 2 extra towels in room 305?", "housekeeping", "normal", "305", ["towel"], 2),
    ("Phòng 412 cần thêm 3 khăn tắm", "housekeeping", "normal", "412", ["towel"], 3),
    ("phong 412 can them hai khan tam", "housekeeping", "normal", "412", ["towel"], 2),
    ("The air conditioner in room 210 is broken", "maintenance", "medium", "210", [], None),
    ("Điều hòa phòng 508 không hoạt động", "maintenance", "medium", "508", [], None),
    ("dieu hoa phong 508 bi hong, sua gap", "maintenance", "high", "508", [], None),
    ("There is smoke in the corridor near room 701!", "emergency", "high", "701", [], None),
    ("Cháy ở tầng 3, cần cấp cứu ngay", "emergency", "high", None, [], None),
    (
        "I'd like breakfast delivered to room 1203",
        "food_beverage",
        "normal",
        "1203",
        ["breakfast"],
        None,
    ),
    ("Cho tôi 2 ly cà phê lên phòng 202", "food_beverage", "normal", "202", ["coffee"], 2),
    ("cho toi bua sang o phong 1001", "food_beverage", "normal", "1001", ["breakfast"], None),
    ("Please clean my room 118", "housekeeping", "normal", "118", [], None),
    ("Dọn phòng 220 giúp tôi", "housekeeping", "normal", "220", [], None),
    ("I want a late checkout tomorrow, room 333", "front_desk", "medium", "333", [], None),
    ("toi muon tra phong, gui hoa don phong 415", "front_desk", "medium", "415", [], None),
    ("Can you call a taxi for me?", "front_desk", "medium", None, ["taxi"], None),
    ("Where is the pool?", "general", "normal", None, [], None),
    ("My toilet is leaking, room 906, urgent", "maintenance", "high", "906", [], None),
    ("Bồn cầu rò nước phòng 317", "maintenance", "medium", "317", [], None),
    (
        "Need more pillows please room 509, two pillows",
        "housekeeping",
        "normal",
        "509",
        ["pillow"],
        2,
    ),
    (
        "Xin thêm gối và chăn cho phòng 610",
        "housekeeping",
        "normal",
        "610",
        ["blanket", "pillow"],
        None,
    ),
    ("someone stole my bag from room 404", "emergency", "high", "404", [], None),
    ("Wifi is not working in 207", "maintenance", "medium", "207", [], None),
    ("The light bulb is out in rm 115", "maintenance", "medium", "115", [], None),
    ("xin 1 chai nuoc suoi phong 303", "housekeeping", "normal", "303", ["water"], 1),
    # marked Vietnamese words whose folded forms collide: gọi (call/order) vs gối (pillow),
    # ngày (day) vs ngay (now), cháy (burnt bulb) vs cháy (fire)
    ("Tôi muốn gọi món lên phòng 606", "food_beverage", "normal", "606", [], None),
    ("Gọi taxi cho phòng 210 vào ngày mai", "front_desk", "medium", "210", ["taxi"], None),
    ("Bóng đèn phòng 115 bị cháy", "maintenance", "medium", "115", [], None),
    ("Phòng 616 hết dầu gội", "housekeeping", "normal", "616", ["shampoo"], None),
    ("Three bottles of water to room 1402", "housekeeping", "normal", "1402", ["water"], 3),
    ("Breakfast for two in room 811", "food_beverage", "normal", "811", ["breakfast"], 2),
    ("What's the wifi password?", "general", "normal", None, [], None),
    ("I smell gas in room 215", "emergency", "high", "215", [], None),
    ("There's no hot water in room 704", "maintenance", "medium", "704", [], None),
]


@pytest.mark.parametrize(("message", "category", "priority", "room", "items", "quantity"), CASES)
def test_classify_labelled(
    message: str,
    category: str,
    priority: str,
    room: str | None,
    items: list[str],
    quantity: int | None,
) -> None:
    routing = classify(message)
    assert routing.category == category
    assert routing.priority == priority
    assert routing.request.room_number == room
    assert sorted(routing.request.items) == sorted(items)
    assert routing.request.quantity == quantity
    assert routing.request.urgency == ("urgent" if priority == "high" else "normal")


def test_diacritics_do_not_change_the_answer() -> None:
    assert classify("Phòng 412 cần thêm 2 khăn tắm") == classify("phong 412 can them 2 khan tam")
    assert fold("Đèn PHÒNG") == "den phong"


def test_assignee_follows_category() -> None:
    assert classify("fire in room 301").assignee_role == "security"
    assert classify("more towels room 301").assignee_role == "housekeeping"
    assert classify("coffee to room 301").assignee_role == "room_service"
    assert classify("broken lamp room 301").assignee_role == "maintenance"
