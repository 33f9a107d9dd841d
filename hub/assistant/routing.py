"""Guest-request routing by rules: category, priority, assignee role and the request itself
(room number, items, quantity, urgency), from English and Vietnamese text with or without
diacritics. Used when no LLM is reachable (and as the LLM's fallback)."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

# (category, assignee role, keywords) in priority order; keywords are diacritic-free, lower case
_CATEGORIES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    (
        "emergency",
        "security",
        (
            "fire",
            "smoke",
            "emergency",
            "ambulance",
            "injured",
            "bleeding",
            "chay",
            "khoi",
            "cap cuu",
            "bi thuong",
            "khan cap",
            "trom",
            "theft",
            "stolen",
            "stole",
        ),
    ),
    (
        "maintenance",
        "maintenance",
        (
            "broken",
            "not working",
            "leak",
            "leaking",
            "air conditioner",
            "air conditioning",
            "aircon",
            "light bulb",
            "repair",
            "toilet",
            "hong",
            "khong hoat dong",
            "ro nuoc",
            "dieu hoa",
            "may lanh",
            "bong den",
            "sua",
            "wifi",
            "tivi",
            " tv",
            "no hot water",
            "khong co nuoc nong",
        ),
    ),
    (
        "front_desk",
        "front_desk",
        (
            "check out",
            "checkout",
            "check-out",
            "late checkout",
            "check in",
            "invoice",
            "bill",
            "taxi",
            "key card",
            "tra phong",
            "nhan phong",
            "hoa don",
            "the tu",
            "goi xe",
        ),
    ),
    (
        "housekeeping",
        "housekeeping",
        (
            "towel",
            "towels",
            "clean",
            "cleaning",
            "pillow",
            "pillows",
            "blanket",
            "sheets",
            "toilet paper",
            "shampoo",
            "soap",
            "khan",
            "don phong",
            "ve sinh",
            "goi",
            "chan",
            "giay ve sinh",
            "dau goi",
            "xa phong",
            "lau don",
            "nuoc suoi",
            "water bottle",
            "bottled water",
        ),
    ),
    (
        "food_beverage",
        "room_service",
        (
            "breakfast",
            "dinner",
            "lunch",
            "food",
            "room service",
            "coffee",
            "menu",
            "bia",
            "beer",
            "an sang",
            "bua sang",
            "bua toi",
            "do an",
            "ca phe",
            "thuc an",
            "goi mon",
        ),
    ),
)

_URGENT = (
    "urgent",
    "asap",
    "immediately",
    "right now",
    "now",
    "emergency",
    "gap",
    "ngay",
    "khan cap",
    "lap tuc",
    "nhanh",
)

# item words -> canonical item (diacritic-free keys)
_ITEMS: dict[str, str] = {
    "towel": "towel",
    "towels": "towel",
    "khan tam": "towel",
    "khan": "towel",
    "pillow": "pillow",
    "pillows": "pillow",
    "goi": "pillow",
    "blanket": "blanket",
    "blankets": "blanket",
    "chan": "blanket",
    "toilet paper": "toilet_paper",
    "giay ve sinh": "toilet_paper",
    "shampoo": "shampoo",
    "dau goi": "shampoo",
    "soap": "soap",
    "xa phong": "soap",
    "water bottle": "water",
    "bottled water": "water",
    "nuoc suoi": "water",
    "water": "water",
    "coffee": "coffee",
    "ca phe": "coffee",
    "breakfast": "breakfast",
    "bua sang": "breakfast",
    "an sang": "breakfast",
    "beer": "beer",
    "bia": "beer",
    "taxi": "taxi",
    "key card": "key_card",
    "the tu": "key_card",
}

_NUMBER_WORDS: dict[str, int] = {
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "ten": 10,
    "a couple of": 2,
    "mot": 1,
    "hai": 2,
    "ba": 3,
    "bon": 4,
    "tu": 4,
    "nam": 5,
    "sau": 6,
    "muoi": 10,
}

_ROOM = re.compile(r"\b(?:room|phong|rm|p\.?)\s*#?\s*(\d{3,4})\b")
_BARE_ROOM = re.compile(r"(?:#|\b(?:in|at|o|tai))\s*(\d{3,4})\b")
_UNIT = r"(?:(?:cai|chiec|chai|ly|coc|phan|bo|cuon|extra|more)\s+)?"
_PRIORITY = {"emergency": "high", "maintenance": "medium", "front_desk": "medium"}


def fold(text: str) -> str:
    """Lower case without diacritics (Vietnamese đ -> d), so 'Phòng' and 'phong' match."""
    decomposed = unicodedata.normalize("NFD", text.lower().replace("đ", "d").replace("Đ", "d"))
    bare = "".join(c for c in decomposed if unicodedata.category(c) != "Mn")
    return " ".join(bare.split())


def _has(text: str, word: str) -> bool:
    return re.search(rf"(?<![a-z]){re.escape(word.strip())}(?![a-z])", text) is not None


@dataclass(frozen=True, slots=True)
class RoutedRequest:
    room_number: str | None
    items: list[str] = field(default_factory=list)
    quantity: int | None = None
    urgency: str = "normal"


@dataclass(frozen=True, slots=True)
class Routing:
    category: str
    priority: str
    assignee_role: str
    request: RoutedRequest


def classify(message: str) -> Routing:
    text = fold(message)
    category, assignee = "general", "front_desk"
    for name, role, words in _CATEGORIES:
        if any(_has(text, w) for w in words):
            category, assignee = name, role
            break
    room = _ROOM.search(text) or _BARE_ROOM.search(text)
    items: list[str] = []
    # longest phrases first so "khan tam" wins over "khan"
    for word in sorted(_ITEMS, key=len, reverse=True):
        item = _ITEMS[word]
        if item not in items and _has(text, word):
            items.append(item)
    quantity = _quantity(text)
    urgent = any(_has(text, w) for w in _URGENT) or category == "emergency"
    priority = "high" if urgent else _PRIORITY.get(category, "normal")
    return Routing(
        category=category,
        priority=priority,
        assignee_role=assignee,
        request=RoutedRequest(
            room_number=room.group(1) if room else None,
            items=items,
            quantity=quantity,
            urgency="urgent" if urgent else "normal",
        ),
    )


def _quantity(text: str) -> int | None:
    """A count written before an item ("2 extra towels", "hai khan tam"); other numbers (floors,
    times) and number words used otherwise ("ba", "nam" are common words too) do not count."""
    items = "|".join(re.escape(w) for w in sorted(_ITEMS, key=len, reverse=True))
    words = "|".join(re.escape(w) for w in sorted(_NUMBER_WORDS, key=len, reverse=True))
    pattern = rf"(?<![a-z0-9])(\d{{1,2}}|{words})\s+{_UNIT}(?:{items})(?![a-z])"
    match = re.search(pattern, text)
    if match is None:
        return None
    count = match.group(1)
    return int(count) if count.isdigit() else _NUMBER_WORDS[count]
