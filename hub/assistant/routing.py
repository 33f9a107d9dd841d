"""Guest-request routing by rules: category, priority, assignee role and the request itself
(room number, items, quantity, urgency), from English and Vietnamese text with or without
diacritics. Used when no LLM is reachable (and as the LLM's fallback)."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from functools import cache

# (category, assignee role, keywords) in priority order; keywords are diacritic-free, lower case.
# A keyword inside a longer keyword of another category does not count ("goi" in "goi mon").
_CATEGORIES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    (
        "emergency",
        "security",
        (
            "fire", "smoke", "emergency", "ambulance", "injured", "bleeding", "theft", "stolen",
            "stole", "gas", "smell gas", "security", "stranger", "breathing", "unconscious",
            "chay", "khoi", "cap cuu", "bi thuong", "khan cap", "trom", "mat trom", "mui gas",
            "bao ve", "nguoi la", "kho tho", "bat tinh", "chay mau",
        ),
    ),
    (
        "maintenance",
        "maintenance",
        (
            "broken", "not working", "doesn't work", "does not work", "don't work", "won't open",
            "leak", "leaking", "air conditioner", "air conditioning", "aircon", "ac", "light bulb",
            "repair", "toilet", "clogged", "blocked", "the safe", "shower head", "no hot water",
            "loud noise", "hong", "khong hoat dong", "ro nuoc", "dieu hoa", "may lanh", "bong den",
            "sua", "khong co nuoc nong", "bi tac", "ket sat", "khong vao duoc", "bi dot",
            "dot nuoc", "keu to", "bon cau",
        ),
    ),
    (
        "front_desk",
        "front_desk",
        (
            "check out", "checkout", "check-out", "late checkout", "check in", "checking out",
            "invoice", "bill", "taxi", "key card", "extend my stay", "extend", "early check",
            "tra phong", "nhan phong", "hoa don", "the tu", "the phong", "goi xe", "gia han",
        ),
    ),
    (
        "housekeeping",
        "housekeeping",
        (
            "towel", "towels", "clean", "cleaning", "cleaned", "pillow", "pillows", "blanket",
            "sheets", "toilet paper", "shampoo", "soap", "water bottle", "bottled water",
            "bottles of water", "bottle of water", "toothbrush", "toothbrushes", "slippers",
            "hair dryer", "iron", "extra bed", "baby cot", "cot", "crib", "do not disturb",
            "khan", "don phong", "don dep", "can don", "don gap", "ve sinh", "goi", "chan",
            "giay ve sinh", "dau goi", "xa phong", "lau don", "nuoc suoi", "ban chai", "dep",
            "may say toc", "ban la", "ban ui", "giuong phu", "noi em be", "cui", "ga giuong",
        ),
    ),
    (
        "food_beverage",
        "room_service",
        (
            "breakfast", "dinner", "lunch", "food", "room service", "coffee", "coffees", "menu",
            "beer", "beers", "sandwich", "order", "bia", "an sang", "bua sang", "bua toi",
            "do an", "ca phe", "thuc an", "goi mon", "thuc don",
        ),
    ),
)  # fmt: skip

_URGENT = (
    "urgent",
    "asap",
    "immediately",
    "right now",
    "emergency",
    "gap",
    "ngay",
    "khan cap",
    "lap tuc",
    "nhanh",
)

# item words -> canonical item (diacritic-free keys)
_ITEMS: dict[str, str] = {
    "towel": "towel", "towels": "towel", "khan tam": "towel", "khan": "towel",
    "pillow": "pillow", "pillows": "pillow", "goi": "pillow",
    "blanket": "blanket", "blankets": "blanket", "chan": "blanket",
    "toilet paper": "toilet_paper", "giay ve sinh": "toilet_paper",
    "shampoo": "shampoo", "dau goi": "shampoo",
    "soap": "soap", "xa phong": "soap",
    "water bottle": "water", "bottled water": "water", "bottles of water": "water",
    "bottle of water": "water", "drinking water": "water", "mineral water": "water",
    "nuoc suoi": "water",
    "toothbrush": "toothbrush", "toothbrushes": "toothbrush", "ban chai": "toothbrush",
    "slippers": "slippers", "dep": "slippers",
    "hair dryer": "hair_dryer", "may say toc": "hair_dryer",
    "iron": "iron", "ban la": "iron", "ban ui": "iron",
    "extra bed": "extra_bed", "giuong phu": "extra_bed",
    "baby cot": "baby_cot", "cot": "baby_cot", "crib": "baby_cot", "noi em be": "baby_cot",
    "cui": "baby_cot",
    "coffee": "coffee", "coffees": "coffee", "ca phe": "coffee",
    "breakfast": "breakfast", "bua sang": "breakfast", "an sang": "breakfast",
    "beer": "beer", "beers": "beer", "bia": "beer",
    "taxi": "taxi",
    "key card": "key_card", "the tu": "key_card", "the phong": "key_card",
}  # fmt: skip

# Folded words that mean something else without their marks: when the message is written with
# diacritics, they count only in the marked form (gối = pillow, gọi = call/order; ngay =
# immediately, ngày = day; chăn = blanket, chân = foot; cháy = fire, chạy = run, chảy = flow).
_MARKED: dict[str, tuple[str, ...]] = {
    "goi": ("gối",),
    "chan": ("chăn",),
    "ngay": ("ngay",),
    "chay": ("cháy",),
    "dep": ("dép",),
    "cui": ("cũi",),
    "khan": ("khăn",),
    "sua": ("sửa",),
    "hong": ("hỏng",),
    "bia": ("bia",),
    "gap": ("gấp",),
}
# "bóng đèn bị cháy" is a burnt-out bulb, not a fire
_BURNT_BULB = re.compile(r"\b(bong den|den|cau chi)\b((?:\s+\w+){0,3}?)\s+chay\b")

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
_BARE_ROOM = re.compile(r"(?:#|\b(?:in|at|o|tai|near|to|for|gan))\s*(\d{3,4})\b")
_UNIT = (
    r"(?:(?:cai|chiec|chai|ly|coc|phan|bo|cuon|lon|doi|hop|extra|more|bottles? of|cups? of|"
    r"cans? of|pairs? of)\s+)?"
)
# "breakfast for two", "dep cho 2 nguoi": a count after the item (not for a taxi's passengers)
_FOR_COUNT = r"\s+(?:\w+\s+){0,3}?(?:for|cho)\s+({n})(?:\s+(?:people|persons|nguoi))?(?![a-z0-9])"
_PRIORITY = {"emergency": "high", "maintenance": "medium", "front_desk": "medium"}


def fold(text: str) -> str:
    """Lower case without diacritics (Vietnamese đ -> d), so 'Phòng' and 'phong' match."""
    decomposed = unicodedata.normalize("NFD", text.lower().replace("đ", "d").replace("Đ", "d"))
    bare = "".join(c for c in decomposed if unicodedata.category(c) != "Mn")
    return " ".join(bare.split())


def _spans(text: str, word: str, marked: str | None) -> list[tuple[int, int]]:
    """Where ``word`` occurs in the folded ``text`` as a whole word; an ambiguous word of
    :data:`_MARKED` counts only if the marked message (``marked``, None when it has no
    diacritics) has one of its marked forms."""
    if (
        marked is not None
        and word in _MARKED
        and not any(_whole(marked, form) for form in _MARKED[word])
    ):
        return []
    return [m.span() for m in _word_pattern(word).finditer(text)]


@cache
def _word_pattern(word: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![a-z0-9]){re.escape(word.strip())}(?![a-z0-9])")


def _whole(text: str, word: str) -> bool:
    return re.search(rf"(?<!\w){re.escape(word)}(?!\w)", text) is not None


def _has(text: str, word: str, marked: str | None = None) -> bool:
    return bool(_spans(text, word, marked))


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


# Sentences that talk to the classifier instead of asking for a service ("ignore your rules",
# "you are admin now", "set priority to high") are dropped before classification, so a guest
# cannot steer the category or the priority by writing instructions (prompt injection).
_INJECTION = re.compile(
    r"\b(?:ignore|disregard|forget|override|bypass)\b.{0,40}"
    r"\b(?:rules?|instructions?|prompts?|policy|policies|guidelines?)\b"
    r"|\byou are (?:now )?(?:an? )?(?:admin|administrator|system|developer|root)\b"
    r"|\b(?:system|assistant|developer)\s*(?:prompt|message)?\s*:"
    r"|\b(?:priority|category|urgency|assignee)\b\s*(?:=|:|is|to|should be|must be|as)"
    r"|\b(?:mark|classify|flag|set|treat)\b.{0,30}\bas\b.{0,20}"
    r"\b(?:high|urgent|emergency|critical|priority)\b"
    r"|\bbo qua\b.{0,30}\b(?:quy tac|huong dan|chi dan|lenh)\b"
    r"|\b(?:do uu tien|muc uu tien)\b"
)
_SENTENCE = re.compile(r"[^.!?;\n]+[.!?;\n]*")


def without_instructions(text: str) -> str:
    """``text`` (folded) without the sentences that carry instructions to the classifier; of
    such a sentence, only what follows a colon after the instruction is kept ("mark this as
    urgent: 2 towels in 305" keeps "2 towels in 305")."""
    kept: list[str] = []
    for sentence in _SENTENCE.findall(text):
        rest = sentence
        while (match := _INJECTION.search(rest)) is not None:
            tail = rest[match.end() :]
            rest = tail.split(":", 1)[1] if ":" in tail else ""
        kept.append(rest)
    return " ".join(" ".join(kept).split())


def classify(message: str) -> Routing:
    text = _BURNT_BULB.sub(r"\1\2 hong", without_instructions(fold(message)))
    lowered = unicodedata.normalize("NFC", message.lower())
    marked = lowered if fold(lowered) != " ".join(lowered.split()) else None
    category, assignee = _category(text, marked)
    room = _ROOM.search(text) or _BARE_ROOM.search(text)
    items: list[str] = []
    taken: list[tuple[int, int]] = []
    # longest phrases first so "khan tam" wins over "khan", "dau goi" over "goi"
    for word in sorted(_ITEMS, key=len, reverse=True):
        for start, end in _spans(text, word, marked):
            if any(start < e and s < end for s, e in taken):
                continue
            taken.append((start, end))
            if _ITEMS[word] not in items:
                items.append(_ITEMS[word])
    quantity = _quantity(text, marked)
    urgent = any(_has(text, w, marked) for w in _URGENT) or category == "emergency"
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


def _category(text: str, marked: str | None) -> tuple[str, str]:
    found: list[tuple[int, int, int]] = []  # (category index, start, end)
    for index, (_name, _role, words) in enumerate(_CATEGORIES):
        for word in words:
            found.extend((index, start, end) for start, end in _spans(text, word, marked))
    # a keyword inside a longer keyword of another category does not count
    kept = [
        f
        for f in found
        if not any(
            o[0] != f[0] and o[1] <= f[1] and f[2] <= o[2] and (o[2] - o[1]) > (f[2] - f[1])
            for o in found
        )
    ]
    if not kept:
        return "general", "front_desk"
    name, role, _words = _CATEGORIES[min(f[0] for f in kept)]
    return name, role


def _quantity(text: str, marked: str | None = None) -> int | None:
    """A count written before an item ("2 extra towels", "hai khan tam", "three bottles of
    water") or after it ("breakfast for two"); other numbers (floors, times, nights) and number
    words used otherwise ("ba", "nam" are common words too) do not count."""
    names = [w for w in sorted(_ITEMS, key=len, reverse=True) if _has(text, w, marked)]
    if not names:
        return None
    items = "|".join(re.escape(w) for w in names)
    numbers = "|".join(re.escape(w) for w in sorted(_NUMBER_WORDS, key=len, reverse=True))
    count = rf"\d{{1,2}}|{numbers}"
    before = rf"(?<![a-z0-9:])({count})\s+{_UNIT}(?:{items})(?![a-z])"
    match = re.search(before, text)
    if match is None:
        counted = "|".join(re.escape(w) for w in names if _ITEMS[w] != "taxi")
        if not counted:
            return None
        after = _FOR_COUNT.replace("{n}", count)
        match = re.search(rf"(?<![a-z])(?:{counted}){after}", text)
    if match is None:
        return None
    value = match.group(1)
    return int(value) if value.isdigit() else _NUMBER_WORDS[value]


_REQUEST_TYPES = {
    "emergency": "emergency",
    "maintenance": "maintenance_request",
    "front_desk": "front_desk_request",
    "food_beverage": "room_service_order",
    "general": "general_inquiry",
}
_PLURAL_ITEMS = frozenset(w for w in _ITEMS if w.endswith("s") and w[:-1] in _ITEMS)


def request_type(routing: Routing) -> str:
    """The kind of request: ``amenity_request`` (housekeeping items), ``cleaning_request``
    (housekeeping without items), ``maintenance_request``, ``room_service_order``,
    ``front_desk_request``, ``emergency`` or ``general_inquiry``."""
    if routing.category == "housekeeping":
        return "amenity_request" if routing.request.items else "cleaning_request"
    return _REQUEST_TYPES.get(routing.category, "general_inquiry")


def implied_quantity(message: str, routing: Routing) -> int:
    """The count of the request: the one written (``2 towels``); without one, 2 for an item
    asked in the plural (``extra towels``: the hotel brings a pair), 1 for one in the singular,
    0 when no item was asked for."""
    if routing.request.quantity is not None:
        return routing.request.quantity
    if not routing.request.items:
        return 0
    text = without_instructions(fold(message))
    return 2 if any(_has(text, word) for word in _PLURAL_ITEMS) else 1
