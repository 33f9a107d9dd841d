"""The seed API's vocabulary mapped onto the booking schema the models learnt from.

The seed's requests speak of ``booking_source`` ("website"), ``payment_method`` ("credit_card")
and ``guest_segment`` ("business"); the models know the "Hotel booking demand" dataset's market
segment, distribution channel and deposit type. These tables say which is which; the dataset's
own values are accepted too. Pure data and lookups (no pandas): the API validates with them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from hub.ml.schema import DEPOSIT_TYPES, MARKET_SEGMENTS

_DIRECT: Final = ("Direct", "Direct")
_ONLINE: Final = ("Online TA", "TA/TO")
_OFFLINE: Final = ("Offline TA/TO", "TA/TO")

# booking_source -> (market_segment, distribution_channel)
BOOKING_SOURCES: Final[dict[str, tuple[str, str]]] = {
    "website": _DIRECT,
    "direct": _DIRECT,
    "phone": _DIRECT,
    "email": _DIRECT,
    "walk_in": _DIRECT,
    "mobile_app": _DIRECT,
    "ota": _ONLINE,
    "online_travel_agency": _ONLINE,
    "booking_com": _ONLINE,
    "expedia": _ONLINE,
    "agoda": _ONLINE,
    "travel_agent": _OFFLINE,
    "tour_operator": _OFFLINE,
    "corporate": ("Corporate", "Corporate"),
    "gds": ("Corporate", "GDS"),
    "group": ("Groups", "TA/TO"),
    "airline": ("Aviation", "Corporate"),
    "complementary": ("Complementary", "Direct"),
}

# payment_method -> deposit_type
PAYMENT_METHODS: Final[dict[str, str]] = {
    "credit_card": "No Deposit",  # a card guarantee, paid at the hotel
    "debit_card": "No Deposit",
    "cash": "No Deposit",
    "pay_at_hotel": "No Deposit",
    "prepaid": "Non Refund",
    "bank_transfer": "Non Refund",  # paid in advance
    "deposit": "Refundable",
    "refundable_deposit": "Refundable",
}

# guest_segment -> market_segment
GUEST_SEGMENTS: Final[dict[str, str]] = {
    "business": "Corporate",
    "corporate": "Corporate",
    "leisure": "Online TA",
    "family": "Online TA",
    "couple": "Online TA",
    "group": "Groups",
    "aviation": "Aviation",
    "crew": "Aviation",
    "direct": "Direct",
    "ota": "Online TA",
    "tour_operator": "Offline TA/TO",
    "complementary": "Complementary",
}


def _key(value: str) -> str:
    return value.strip().lower().replace("-", "_").replace(" ", "_")


def _options(table: Mapping[str, object], extra: tuple[str, ...]) -> str:
    return ", ".join([*table, *extra])


def booking_source(value: str) -> tuple[str, str]:
    """(market_segment, distribution_channel) of a booking source; ValueError if unknown."""
    if value in MARKET_SEGMENTS:
        return value, {"Direct": "Direct", "Corporate": "Corporate"}.get(value, "TA/TO")
    found = BOOKING_SOURCES.get(_key(value))
    if found is None:
        options = _options(BOOKING_SOURCES, MARKET_SEGMENTS)
        raise ValueError(f"unknown booking source {value!r}: one of {options}")
    return found


def deposit_type(payment_method: str) -> str:
    """The deposit type a payment method amounts to; ValueError if unknown."""
    if payment_method in DEPOSIT_TYPES:
        return payment_method
    found = PAYMENT_METHODS.get(_key(payment_method))
    if found is None:
        options = _options(PAYMENT_METHODS, DEPOSIT_TYPES)
        raise ValueError(f"unknown payment method {payment_method!r}: one of {options}")
    return found


def market_segment(guest_segment: str) -> str:
    """The market segment of a guest segment; ValueError if unknown."""
    if guest_segment in MARKET_SEGMENTS:
        return guest_segment
    found = GUEST_SEGMENTS.get(_key(guest_segment))
    if found is None:
        options = _options(GUEST_SEGMENTS, MARKET_SEGMENTS)
        raise ValueError(f"unknown guest segment {guest_segment!r}: one of {options}")
    return found
