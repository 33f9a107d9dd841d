"""The reference schema: the public "Hotel booking demand" dataset (Antonio, Almeida & Nunes,
*Data in Brief* 22, 2019; 119,390 bookings of two Portuguese hotels, 2015-07 to 2017-08).

Column order is the CSV's. Our generator writes the same columns with the same value
vocabulary, except the room types, which the dataset anonymised as letters and we name.
"""

from __future__ import annotations

from typing import Final

HOTEL_BOOKING_COLUMNS: Final[tuple[str, ...]] = (
    "hotel",
    "is_canceled",
    "lead_time",
    "arrival_date_year",
    "arrival_date_month",
    "arrival_date_week_number",
    "arrival_date_day_of_month",
    "stays_in_weekend_nights",
    "stays_in_week_nights",
    "adults",
    "children",
    "babies",
    "meal",
    "country",
    "market_segment",
    "distribution_channel",
    "is_repeated_guest",
    "previous_cancellations",
    "previous_bookings_not_canceled",
    "reserved_room_type",
    "assigned_room_type",
    "booking_changes",
    "deposit_type",
    "agent",
    "company",
    "days_in_waiting_list",
    "customer_type",
    "adr",
    "required_car_parking_spaces",
    "total_of_special_requests",
    "reservation_status",
    "reservation_status_date",
)

INT_COLUMNS: Final[tuple[str, ...]] = (
    "is_canceled",
    "lead_time",
    "arrival_date_year",
    "arrival_date_week_number",
    "arrival_date_day_of_month",
    "stays_in_weekend_nights",
    "stays_in_week_nights",
    "adults",
    "babies",
    "is_repeated_guest",
    "previous_cancellations",
    "previous_bookings_not_canceled",
    "booking_changes",
    "days_in_waiting_list",
    "required_car_parking_spaces",
    "total_of_special_requests",
)
# ``children`` has four "NA" values in the original file, so it is a float column there.
FLOAT_COLUMNS: Final[tuple[str, ...]] = ("children", "adr")
STRING_COLUMNS: Final[tuple[str, ...]] = tuple(
    c
    for c in HOTEL_BOOKING_COLUMNS
    if c not in INT_COLUMNS and c not in FLOAT_COLUMNS and c != "reservation_status_date"
)

MONTHS: Final[tuple[str, ...]] = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)

RESERVATION_STATUSES: Final[frozenset[str]] = frozenset({"Check-Out", "Canceled", "No-Show"})
MEALS: Final[tuple[str, ...]] = ("BB", "HB", "FB", "SC", "Undefined")
MARKET_SEGMENTS: Final[tuple[str, ...]] = (
    "Online TA",
    "Offline TA/TO",
    "Direct",
    "Corporate",
    "Groups",
    "Aviation",
    "Complementary",
)
DISTRIBUTION_CHANNELS: Final[tuple[str, ...]] = ("TA/TO", "Direct", "Corporate", "GDS")
DEPOSIT_TYPES: Final[tuple[str, ...]] = ("No Deposit", "Non Refund", "Refundable")
CUSTOMER_TYPES: Final[tuple[str, ...]] = ("Transient", "Transient-Party", "Contract", "Group")
NULL_ID: Final[str] = "NULL"

# Known only after the booking was made, or the answer itself: never a feature (see
# hub/ml/features.py for why each is dropped).
LEAKAGE_COLUMNS: Final[tuple[str, ...]] = (
    "is_canceled",
    "reservation_status",
    "reservation_status_date",
    "assigned_room_type",
    "booking_changes",
)
