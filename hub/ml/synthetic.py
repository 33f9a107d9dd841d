"""A seeded hotel simulator: a booking history in the public dataset's schema and in our tables.

The world (one hotel, its room types, seven market segments):

- Booking requests arrive per segment and arrival day at a rate with yearly seasonality (a summer
  peak and the year-end holidays for leisure; fewer business trips in August and at year end),
  weekly seasonality (leisure arrives Friday/Saturday, business Sunday-Wednesday) and growth.
- Each request has a lead time (gamma, long tails for tour operators and groups), a length of
  stay, a room type, party, meal plan, country, channel, deposit and customer type.
- Price-dependent demand: the hotel publishes a nightly rate (BAR) per room type: a rack rate
  times a flat seasonal policy times weekly promotions (the exogenous variation an elasticity
  can be learnt from). A request books with probability ``exp(-b (r - 1))`` where ``r`` is the
  stay's mean ratio of BAR to the market's reference price (which is more seasonal than the
  hotel's policy) and ``b`` the segment's price sensitivity. Requests are drawn in excess and
  thinned (common random numbers: :func:`realize` can replay the same requests under other
  prices, which is how the benchmark measures a pricing policy against the true demand).
- Capacity: a booking that will stay needs a room free on all its nights (first fit).
- Cancellations: a logistic model of lead time, deposit, channel, segment, customer type,
  special requests, parking, and the guest's previous cancellations and stays.
- Guests: some requests come from returning guests (more for corporate and direct), who keep
  their country and favourite services. Services are ordered during stays.

Same config (seed included) -> identical output. Nothing here does I/O.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Annotated, Final

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from hub.ml.catalog import SERVICE_NAMES, SERVICE_PRICES
from hub.ml.history import ROOM_COLUMNS, History, normalise_bookings
from hub.ml.schema import NULL_ID

MAX_LOS: Final = 14
R_MIN: Final = 0.5  # below this price ratio demand no longer grows
_TAU = 2.0 * math.pi

# ---------------------------------------------------------------------------------------------
# Configuration
# ---------------------------------------------------------------------------------------------


class RoomTypeSpec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: Annotated[str, Field(min_length=1, max_length=32)]
    rooms: Annotated[int, Field(ge=1, le=2000)]
    base_rate: Annotated[float, Field(gt=0)]
    capacity: Annotated[int, Field(ge=1, le=8)] = 2
    leisure_weight: Annotated[float, Field(ge=0)] = 1.0
    business_weight: Annotated[float, Field(ge=0)] = 1.0


DEFAULT_ROOM_TYPES: Final[tuple[RoomTypeSpec, ...]] = (
    RoomTypeSpec(
        name="single", rooms=20, base_rate=70, capacity=1, leisure_weight=0.08, business_weight=0.5
    ),
    RoomTypeSpec(
        name="double", rooms=40, base_rate=95, capacity=2, leisure_weight=0.47, business_weight=0.38
    ),
    RoomTypeSpec(
        name="twin", rooms=30, base_rate=90, capacity=3, leisure_weight=0.35, business_weight=0.08
    ),
    RoomTypeSpec(
        name="suite", rooms=10, base_rate=210, capacity=4, leisure_weight=0.1, business_weight=0.04
    ),
)


# A 15-room hotel for tests and quick demos.
SMALL_ROOM_TYPES: Final[tuple[RoomTypeSpec, ...]] = (
    RoomTypeSpec(
        name="single", rooms=4, base_rate=70, capacity=1, leisure_weight=0.1, business_weight=0.5
    ),
    RoomTypeSpec(
        name="double", rooms=8, base_rate=95, capacity=2, leisure_weight=0.5, business_weight=0.4
    ),
    RoomTypeSpec(
        name="suite", rooms=3, base_rate=210, capacity=4, leisure_weight=0.2, business_weight=0.05
    ),
)


class GeneratorConfig(BaseModel):
    """``days`` of history up to ``as_of`` (exclusive), plus bookings already made for the
    ``future_days`` after it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    as_of: date
    seed: int = 7
    days: Annotated[int, Field(ge=60, le=3650)] = 730
    future_days: Annotated[int, Field(ge=0, le=730)] = 365
    hotel: Annotated[str, Field(min_length=1, max_length=64)] = "City Hotel"
    currency: Annotated[str, Field(min_length=3, max_length=3)] = "USD"
    room_types: Annotated[tuple[RoomTypeSpec, ...], Field(min_length=1)] = DEFAULT_ROOM_TYPES
    demand_scale: Annotated[float, Field(gt=0, le=10)] = 1.0
    yearly_growth: Annotated[float, Field(ge=-0.5, le=0.5)] = 0.04


# ---------------------------------------------------------------------------------------------
# Segments
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SegmentSpec:
    name: str
    share: float
    business: bool
    channels: tuple[tuple[str, float], ...]
    lead_mean: float
    lead_shape: float
    los_mean: float
    price_sensitivity: float
    discount: float
    customer_types: tuple[tuple[str, float], ...]
    deposits: tuple[tuple[str, float], ...]
    return_prob: float
    loyal_prob: float
    loyal_tickets: float
    cancel_shift: float
    agents: tuple[str, ...] = ()
    agent_prob: float = 0.0
    companies: tuple[str, ...] = ()
    company_prob: float = 0.0
    domestic: float = 0.4


_ONLINE_AGENTS = ("9", "240", "14", "7", "250", "241", "28")
_OFFLINE_AGENTS = ("1", "6", "3", "229", "8", "134")
_COMPANIES = ("40", "67", "45", "153", "174", "219", "233", "281")

SEGMENTS: Final[tuple[SegmentSpec, ...]] = (
    SegmentSpec(
        "Online TA",
        0.44,
        False,
        (("TA/TO", 0.97), ("Direct", 0.03)),
        50,
        0.9,
        2.8,
        2.0,
        1.0,
        (("Transient", 0.86), ("Transient-Party", 0.14)),
        (("No Deposit", 0.93), ("Non Refund", 0.07)),
        0.06,
        0.15,
        1.0,
        0.1,
        _ONLINE_AGENTS,
        0.95,
    ),
    SegmentSpec(
        "Offline TA/TO",
        0.14,
        False,
        (("TA/TO", 1.0),),
        110,
        1.3,
        3.4,
        1.5,
        0.88,
        (("Transient", 0.45), ("Contract", 0.35), ("Transient-Party", 0.2)),
        (("No Deposit", 0.72), ("Non Refund", 0.25), ("Refundable", 0.03)),
        0.05,
        0.1,
        1.0,
        0.0,
        _OFFLINE_AGENTS,
        0.97,
    ),
    SegmentSpec(
        "Direct",
        0.14,
        False,
        (("Direct", 1.0),),
        35,
        0.8,
        2.6,
        1.5,
        0.97,
        (("Transient", 0.9), ("Transient-Party", 0.1)),
        (("No Deposit", 0.95), ("Non Refund", 0.05)),
        0.3,
        0.35,
        2.0,
        -0.2,
        domestic=0.6,
    ),
    SegmentSpec(
        "Corporate",
        0.13,
        True,
        (("Corporate", 0.85), ("Direct", 0.1), ("GDS", 0.05)),
        12,
        0.8,
        1.8,
        0.5,
        0.85,
        (("Transient", 0.7), ("Transient-Party", 0.3)),
        (("No Deposit", 0.98), ("Non Refund", 0.02)),
        0.45,
        0.7,
        3.0,
        -0.1,
        companies=_COMPANIES,
        company_prob=0.75,
        domestic=0.6,
    ),
    SegmentSpec(
        "Groups",
        0.12,
        False,
        (("TA/TO", 0.7), ("Direct", 0.2), ("Corporate", 0.1)),
        140,
        1.5,
        2.5,
        2.5,
        0.8,
        (("Transient-Party", 0.55), ("Group", 0.45)),
        (("No Deposit", 0.65), ("Non Refund", 0.3), ("Refundable", 0.05)),
        0.02,
        0.02,
        1.0,
        0.4,
        _OFFLINE_AGENTS,
        0.6,
    ),
    SegmentSpec(
        "Aviation",
        0.015,
        True,
        (("Corporate", 0.6), ("GDS", 0.4)),
        3,
        1.0,
        1.5,
        0.3,
        0.7,
        (("Transient", 1.0),),
        (("No Deposit", 1.0),),
        0.5,
        0.8,
        4.0,
        -1.0,
        companies=("153",),
        company_prob=1.0,
    ),
    SegmentSpec(
        "Complementary",
        0.01,
        False,
        (("Direct", 1.0),),
        10,
        0.8,
        2.0,
        0.0,
        0.0,
        (("Transient", 1.0),),
        (("No Deposit", 1.0),),
        0.4,
        0.5,
        2.0,
        -1.5,
        domestic=0.8,
    ),
)

_COUNTRIES: Final[tuple[tuple[str, str, float], ...]] = (
    # ISO 3166 alpha-3 (the dataset's), alpha-2 (our guests table), weight among foreigners
    ("KOR", "KR", 0.18),
    ("CHN", "CN", 0.15),
    ("JPN", "JP", 0.1),
    ("USA", "US", 0.1),
    ("AUS", "AU", 0.08),
    ("FRA", "FR", 0.07),
    ("GBR", "GB", 0.07),
    ("DEU", "DE", 0.06),
    ("SGP", "SG", 0.05),
    ("THA", "TH", 0.05),
    ("RUS", "RU", 0.04),
    ("PRT", "PT", 0.05),
)
HOME_COUNTRY: Final = ("VNM", "VN")
ISO2: Final[dict[str, str]] = {a3: a2 for a3, a2, _ in _COUNTRIES} | {HOME_COUNTRY[0]: "VN"}

_MEALS_LEISURE = (("BB", 0.74), ("HB", 0.12), ("FB", 0.02), ("SC", 0.11), ("Undefined", 0.01))
_MEALS_GROUPS = (("BB", 0.5), ("HB", 0.4), ("FB", 0.08), ("SC", 0.02))
_MEALS_BUSINESS = (("BB", 0.8), ("SC", 0.2))

# first names / family names for the guests table (synthetic people)
_FIRST = (
    "An",
    "Binh",
    "Chi",
    "Dung",
    "Hoa",
    "Lan",
    "Minh",
    "Nam",
    "Thao",
    "Tuan",
    "Emma",
    "Liam",
    "Olivia",
    "Noah",
    "Mia",
    "Lucas",
    "Yuna",
    "Jisoo",
    "Wei",
    "Hana",
    "Sofia",
    "Louis",
)
_LAST = (
    "Nguyen",
    "Tran",
    "Le",
    "Pham",
    "Hoang",
    "Vu",
    "Smith",
    "Brown",
    "Martin",
    "Kim",
    "Park",
    "Wang",
    "Li",
    "Sato",
    "Muller",
    "Dubois",
    "Silva",
    "Jones",
)

# ---------------------------------------------------------------------------------------------
# Calendar and prices
# ---------------------------------------------------------------------------------------------


def _bump(doy: np.ndarray, centre: float, width: float) -> np.ndarray:
    distance = np.minimum(np.abs(doy - centre), 365.25 - np.abs(doy - centre))
    return np.asarray(np.exp(-0.5 * (distance / width) ** 2))


def leisure_season(doy: np.ndarray) -> np.ndarray:
    return np.asarray(
        1.0 + 0.38 * np.cos(_TAU * (doy - 196) / 365.25) + 0.45 * _bump(doy, 362, 6.0)
    )


def business_season(doy: np.ndarray) -> np.ndarray:
    return np.asarray(
        1.0
        + 0.1 * np.cos(_TAU * (doy - 100) / 365.25)
        - 0.5 * _bump(doy, 362, 8.0)
        - 0.3 * _bump(doy, 222, 12.0)
    )


LEISURE_DOW: Final = np.array([0.8, 0.75, 0.8, 0.95, 1.45, 1.3, 0.75])
BUSINESS_DOW: Final = np.array([1.5, 1.35, 1.2, 0.9, 0.45, 0.25, 0.95])


def market_reference(doy: np.ndarray, dow: np.ndarray) -> np.ndarray:
    """What the market pays for a night, relative to the rack rate (the demand curve's centre)."""
    weekend = np.isin(dow, (4, 5))  # Friday and Saturday nights
    return (
        np.asarray(1.0 + 0.22 * np.cos(_TAU * (doy - 196) / 365.25) + 0.15 * _bump(doy, 362, 6.0))
        + 0.06 * weekend
    )


def policy_multiplier(doy: np.ndarray, dow: np.ndarray) -> np.ndarray:
    """The hotel's own (too flat) seasonal price policy, relative to the rack rate."""
    weekend = np.isin(dow, (4, 5))
    return np.asarray(1.0 + 0.08 * np.cos(_TAU * (doy - 196) / 365.25)) + 0.05 * weekend


# ---------------------------------------------------------------------------------------------
# The world: requests drawn once, realised under any prices
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Requests:
    """Booking requests (one entry per request), sorted by the time they are made."""

    segment: np.ndarray
    arrival: np.ndarray  # day index (0 = first history day)
    created: np.ndarray  # day index, may be negative
    minute: np.ndarray  # minute of the day the request is made
    los: np.ndarray
    room_type: np.ndarray
    adults: np.ndarray
    children: np.ndarray
    babies: np.ndarray
    meal: np.ndarray
    country: np.ndarray
    agent: np.ndarray
    company: np.ndarray
    deposit: np.ndarray
    customer_type: np.ndarray
    channel: np.ndarray
    special_requests: np.ndarray
    parking: np.ndarray
    waiting_days: np.ndarray
    cancel_logit: np.ndarray  # the part that does not depend on the guest's history
    u_accept: np.ndarray
    u_return: np.ndarray
    u_pick: np.ndarray
    u_cancel: np.ndarray
    cancel_fraction: np.ndarray
    no_show: np.ndarray
    booking_changes_if_cancelled: np.ndarray
    booking_changes_if_stayed: np.ndarray
    upgrade: np.ndarray
    new_guest_tickets: np.ndarray
    favourites: np.ndarray  # (n, 2) service indices

    def __len__(self) -> int:
        return len(self.arrival)


@dataclass(frozen=True)
class SyntheticWorld:
    config: GeneratorConfig
    day0: date
    nights: int
    bar: np.ndarray  # (room types, nights): the hotel's published nightly rate
    reference: np.ndarray  # (room types, nights): the market's reference price
    requests: Requests

    @property
    def room_type_names(self) -> list[str]:
        return [rt.name for rt in self.config.room_types]

    @property
    def base_rates(self) -> np.ndarray:
        return np.array([rt.base_rate for rt in self.config.room_types])

    def day_of(self, value: date) -> int:
        return (value - self.day0).days

    @property
    def as_of_index(self) -> int:
        return self.config.days


def _choice(rng: np.random.Generator, options: tuple[tuple[str, float], ...], n: int) -> np.ndarray:
    names = np.array([o[0] for o in options], dtype=object)
    weights = np.array([o[1] for o in options], dtype=float)
    return np.asarray(names[rng.choice(len(names), size=n, p=weights / weights.sum())])


def _calendar(day0: date, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    days = pd.date_range(pd.Timestamp(day0), periods=n, freq="D")
    doy = days.day_of_year.to_numpy().astype(float)
    dow = days.day_of_week.to_numpy()
    years = np.arange(n) / 365.25
    return doy, dow, years


def build_world(config: GeneratorConfig) -> SyntheticWorld:
    """Draw prices and every booking request of the world described by ``config``."""
    rng = np.random.default_rng(config.seed)
    day0 = config.as_of - timedelta(days=config.days)
    n_arrival_days = config.days + config.future_days
    nights = n_arrival_days + MAX_LOS + 1
    doy, dow, years = _calendar(day0, nights)
    room_types = config.room_types
    base = np.array([rt.base_rate for rt in room_types])
    weeks = np.arange(nights) // 7
    promo = np.exp(
        np.clip(rng.normal(0.0, 0.1, size=(len(room_types), weeks[-1] + 1)), -0.25, 0.25)
    )
    bar = base[:, None] * policy_multiplier(doy, dow)[None, :] * promo[:, weeks]
    bar = np.round(bar, 2)
    reference = base[:, None] * market_reference(doy, dow)[None, :]

    total_rooms = sum(rt.rooms for rt in room_types)
    arrivals_per_day = 0.47 * total_rooms * config.demand_scale
    a_doy, a_dow = doy[:n_arrival_days], dow[:n_arrival_days]
    growth = (1.0 + config.yearly_growth) ** years[:n_arrival_days]
    leisure_w = np.array([rt.leisure_weight for rt in room_types], dtype=float)
    business_w = np.array([rt.business_weight for rt in room_types], dtype=float)
    capacity = np.array([rt.capacity for rt in room_types])

    parts: list[dict[str, np.ndarray]] = []
    for s, spec in enumerate(SEGMENTS):
        season = business_season(a_doy) if spec.business else leisure_season(a_doy)
        weekly = (BUSINESS_DOW if spec.business else LEISURE_DOW)[a_dow]
        oversample = math.exp(spec.price_sensitivity * (1.0 - R_MIN))
        lam = arrivals_per_day * spec.share * season * weekly * growth * oversample
        counts = rng.poisson(np.clip(lam, 0.0, None))
        arrival = np.repeat(np.arange(n_arrival_days), counts)
        n = len(arrival)
        lead = rng.gamma(spec.lead_shape, spec.lead_mean / spec.lead_shape, size=n)
        lead = np.clip(np.round(lead), 0, 600).astype(np.int64)
        los = 1 + rng.poisson(spec.los_mean - 1.0, size=n)
        los = np.clip(los, 1, MAX_LOS)
        weights = business_w if spec.business else leisure_w
        if spec.name == "Groups":
            weights = weights * (capacity >= 2)
        room_type = rng.choice(len(room_types), size=n, p=weights / weights.sum())
        cap = capacity[room_type]
        family = (not spec.business) & (cap >= 3) & (rng.random(n) < 0.4)
        adults = np.where(
            cap == 1, 1, np.where(rng.random(n) < (0.35 if spec.business else 0.12), 1, 2)
        )
        adults = np.where((cap >= 4) & (rng.random(n) < 0.3), 3, adults)
        children = np.where(family, 1 + (rng.random(n) < 0.4), 0)
        children = np.minimum(children, np.maximum(cap + 1 - adults, 0))
        babies = (rng.random(n) < 0.03) & family
        meals = (
            _MEALS_BUSINESS
            if spec.business
            else (_MEALS_GROUPS if spec.name == "Groups" else _MEALS_LEISURE)
        )
        domestic = rng.random(n) < spec.domestic
        foreign = np.array([c[0] for c in _COUNTRIES], dtype=object)
        fw = np.array([c[2] for c in _COUNTRIES])
        country = np.where(
            domestic, HOME_COUNTRY[0], foreign[rng.choice(len(fw), size=n, p=fw / fw.sum())]
        )
        agent = np.full(n, NULL_ID, dtype=object)
        if spec.agents:
            has = rng.random(n) < spec.agent_prob
            agent[has] = np.array(spec.agents, dtype=object)[
                rng.integers(len(spec.agents), size=has.sum())
            ]
        company = np.full(n, NULL_ID, dtype=object)
        if spec.companies:
            has = rng.random(n) < spec.company_prob
            company[has] = np.array(spec.companies, dtype=object)[
                rng.integers(len(spec.companies), size=has.sum())
            ]
        deposit = _choice(rng, spec.deposits, n)
        customer_type = _choice(rng, spec.customer_types, n)
        channel = _choice(rng, spec.channels, n)
        special = np.clip(rng.poisson(0.3 if spec.business else 0.65, size=n), 0, 5)
        parking = (rng.random(n) < (0.1 * domestic + 0.02)).astype(np.int64)
        waiting = np.where(
            (spec.name in ("Groups", "Offline TA/TO")) & (rng.random(n) < 0.05),
            rng.integers(1, 60, size=n),
            0,
        )
        z = (
            -2.0
            + 0.9 * np.log1p(lead / 30.0)
            + np.select([deposit == "Non Refund", deposit == "Refundable"], [-1.8, -0.6], 0.0)
            + np.select(
                [channel == "TA/TO", channel == "Direct", channel == "Corporate"],
                [0.55, -0.35, -0.25],
                0.0,
            )
            + np.select(
                [customer_type == "Transient", customer_type == "Contract"], [0.25, -0.2], 0.0
            )
            - 0.35 * special
            - 1.2 * parking
            + 0.15 * (los > 5)
            + spec.cancel_shift
            + rng.normal(0.0, 0.3, size=n)
        )
        loyal = rng.random(n) < spec.loyal_prob
        tickets = np.where(loyal, 1 + rng.poisson(spec.loyal_tickets, size=n), 0)
        fav_weights = np.ones(len(SERVICE_NAMES))
        favourites = np.stack(
            [
                rng.choice(len(SERVICE_NAMES), size=n, p=fav_weights / fav_weights.sum())
                for _ in range(2)
            ],
            axis=1,
        )
        parts.append(
            {
                "segment": np.full(n, s),
                "arrival": arrival,
                "created": arrival - lead,
                "minute": rng.integers(0, 24 * 60, size=n),
                "los": los,
                "room_type": room_type,
                "adults": adults,
                "children": children,
                "babies": babies.astype(np.int64),
                "meal": _choice(rng, meals, n),
                "country": country,
                "agent": agent,
                "company": company,
                "deposit": deposit,
                "customer_type": customer_type,
                "channel": channel,
                "special_requests": special,
                "parking": parking,
                "waiting_days": waiting,
                "cancel_logit": z,
                "u_accept": rng.random(n),
                "u_return": rng.random(n),
                "u_pick": rng.random(n),
                "u_cancel": rng.random(n),
                "cancel_fraction": rng.beta(2.0, 1.2, size=n),
                "no_show": rng.random(n) < 0.012,
                "booking_changes_if_cancelled": rng.poisson(0.12, size=n),
                "booking_changes_if_stayed": rng.poisson(0.25 + lead / 400.0),
                "upgrade": rng.random(n) < 0.06,
                "new_guest_tickets": tickets,
                "favourites": favourites,
            }
        )
    merged = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    order = np.lexsort((merged["minute"], merged["created"]))
    requests = Requests(**{k: v[order] for k, v in merged.items()})
    return SyntheticWorld(config, day0, nights, bar, reference, requests)


# ---------------------------------------------------------------------------------------------
# Realisation
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Realized:
    """The bookings that were made (indices into the requests, in booking order)."""

    request: np.ndarray
    guest: np.ndarray  # 0-based guest index
    cancelled: np.ndarray
    cancel_day: np.ndarray  # day index, -1 when not cancelled
    no_show: np.ndarray
    room: np.ndarray  # room index within its type, -1 when cancelled
    nightly_rate: np.ndarray  # what the guest pays per night
    previous_cancellations: np.ndarray
    previous_stays: np.ndarray
    repeated: np.ndarray
    guest_country: np.ndarray  # per guest
    guest_favourites: np.ndarray  # per guest, (g, 2)
    guest_first_segment: np.ndarray  # per guest
    rejected_price: int
    rejected_capacity: int


def realize(
    world: SyntheticWorld,
    bar: np.ndarray | None = None,
    *,
    from_day: int | None = None,
) -> Realized:
    """Book the world's requests in the order they are made, under the hotel's published rates,
    or under ``bar`` for requests made on or after ``from_day`` (a counterfactual price path)."""
    req = world.requests
    ratio_now = world.bar / world.reference
    cs_now = np.concatenate([np.zeros((len(ratio_now), 1)), np.cumsum(ratio_now, axis=1)], axis=1)
    bar_new = world.bar if bar is None else bar
    cs_new = np.concatenate(
        [np.zeros((len(ratio_now), 1)), np.cumsum(bar_new / world.reference, axis=1)], axis=1
    )
    switch = 10**9 if from_day is None or bar is None else from_day
    discount = np.array([s.discount for s in SEGMENTS])
    sensitivity = np.array([s.price_sensitivity for s in SEGMENTS])
    oversample = np.exp(sensitivity * (1.0 - R_MIN))
    return_prob = np.array([s.return_prob for s in SEGMENTS])
    occupied = [np.zeros((rt.rooms, world.nights), dtype=bool) for rt in world.config.room_types]

    seg_l = req.segment.tolist()
    arr_l = req.arrival.tolist()
    cre_l = req.created.tolist()
    los_l = req.los.tolist()
    rt_l = req.room_type.tolist()
    uacc = req.u_accept.tolist()
    uret = req.u_return.tolist()
    upick = req.u_pick.tolist()
    ucan = req.u_cancel.tolist()
    zl = req.cancel_logit.tolist()
    frac = req.cancel_fraction.tolist()
    tickets_new = req.new_guest_tickets.tolist()
    country_l = req.country.tolist()
    fav_l = req.favourites.tolist()

    tickets: list[list[int]] = [[] for _ in SEGMENTS]
    g_country: list[str] = []
    g_fav: list[list[int]] = []
    g_segment: list[int] = []
    g_events: list[list[tuple[int, int]]] = []  # (day, 1 = cancelled | 0 = stayed)

    out_req: list[int] = []
    out_guest: list[int] = []
    out_cancel: list[bool] = []
    out_cday: list[int] = []
    out_room: list[int] = []
    out_rate: list[float] = []
    out_prev_c: list[int] = []
    out_prev_s: list[int] = []
    out_rep: list[bool] = []
    rejected_price = 0
    rejected_capacity = 0

    for i in range(len(req)):
        s, a, c, n, rt = seg_l[i], arr_l[i], cre_l[i], los_l[i], rt_l[i]
        cs = cs_new if c >= switch else cs_now
        ratio = (cs[rt, a + n] - cs[rt, a]) / n
        accept = min(1.0, math.exp(-sensitivity[s] * (ratio - 1.0)) / oversample[s])
        if uacc[i] >= accept:
            rejected_price += 1
            continue
        pool = tickets[s]
        guest = -1
        if pool and uret[i] < return_prob[s]:
            guest = pool[int(upick[i] * len(pool))]
        prev_c = prev_s = 0
        if guest >= 0:
            for day, was_cancelled in g_events[guest]:
                if day <= c:
                    if was_cancelled:
                        prev_c += 1
                    else:
                        prev_s += 1
        z = zl[i] + 1.0 * min(prev_c, 3) - 0.35 * min(prev_s, 5) - 0.3 * (prev_s > 0)
        cancelled = ucan[i] < 1.0 / (1.0 + math.exp(-z))
        room = -1
        if not cancelled:
            free = np.flatnonzero(~occupied[rt][:, a : a + n].any(axis=1))
            if len(free) == 0:
                rejected_capacity += 1
                continue
            room = int(free[0])
            occupied[rt][room, a : a + n] = True
        if guest < 0:
            guest = len(g_country)
            g_country.append(country_l[i])
            g_fav.append(fav_l[i])
            g_segment.append(s)
            g_events.append([])
            pool.extend([guest] * tickets_new[i])
        lead = a - c
        cancel_day = c + int(frac[i] * lead) if cancelled else -1
        g_events[guest].append((cancel_day, 1) if cancelled else (a + n, 0))
        rate_path = world.bar[rt, a : a + n] if c < switch else bar_new[rt, a : a + n]
        out_req.append(i)
        out_guest.append(guest)
        out_cancel.append(cancelled)
        out_cday.append(cancel_day)
        out_room.append(room)
        out_rate.append(float(rate_path.mean()) * discount[s])
        out_prev_c.append(prev_c)
        out_prev_s.append(prev_s)
        out_rep.append(prev_s > 0)

    request = np.array(out_req, dtype=np.int64)
    cancelled_arr = np.array(out_cancel, dtype=bool)
    return Realized(
        request=request,
        guest=np.array(out_guest, dtype=np.int64),
        cancelled=cancelled_arr,
        cancel_day=np.array(out_cday, dtype=np.int64),
        no_show=req.no_show[request] & ~cancelled_arr,
        room=np.array(out_room, dtype=np.int64),
        nightly_rate=np.round(np.array(out_rate, dtype=float), 2),
        previous_cancellations=np.array(out_prev_c, dtype=np.int64),
        previous_stays=np.array(out_prev_s, dtype=np.int64),
        repeated=np.array(out_rep, dtype=bool),
        guest_country=np.array(g_country, dtype=object),
        guest_favourites=np.array(g_fav, dtype=np.int64).reshape(-1, 2),
        guest_first_segment=np.array(g_segment, dtype=np.int64),
        rejected_price=rejected_price,
        rejected_capacity=rejected_capacity,
    )


def room_revenue(world: SyntheticWorld, realized: Realized, first: int, last: int) -> float:
    """Room revenue earned on nights ``first`` to ``last`` (day indices, inclusive)."""
    req = world.requests
    stayed = ~realized.cancelled & ~realized.no_show
    idx = realized.request[stayed]
    a = req.arrival[idx]
    d = a + req.los[idx]
    nights_in = np.clip(np.minimum(d, last + 1) - np.maximum(a, first), 0, None)
    return float((nights_in * realized.nightly_rate[stayed]).sum())


# ---------------------------------------------------------------------------------------------
# Frames: our History, the guests table, the services
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SyntheticHistory:
    """A generated history: what the hub database would hold on ``config.as_of``."""

    history: History
    guests: pd.DataFrame  # guest_id, full_name, email, nationality (ISO2), country (ISO3), ...
    booking_times: pd.DataFrame  # booking_id, created_at (UTC timestamp), room_number | None
    world: SyntheticWorld
    realized: Realized


def generate(config: GeneratorConfig) -> SyntheticHistory:
    """The world of ``config``, realised under the hotel's own prices, as known on ``as_of``."""
    world = build_world(config)
    realized = realize(world)
    return to_synthetic_history(world, realized)


def generate_history(config: GeneratorConfig) -> History:
    return generate(config).history


def to_synthetic_history(world: SyntheticWorld, realized: Realized) -> SyntheticHistory:
    config = world.config
    req = world.requests
    idx = realized.request
    day0 = pd.Timestamp(world.day0)
    known = req.created[idx] < world.as_of_index
    rows = np.flatnonzero(known)
    i = idx[rows]
    names = np.array(world.room_type_names, dtype=object)
    seg_names = np.array([s.name for s in SEGMENTS], dtype=object)
    arrival = day0 + pd.to_timedelta(req.arrival[i], unit="D")
    created = day0 + pd.to_timedelta(req.created[i], unit="D")
    cancel_day = realized.cancel_day[rows]
    cancelled = realized.cancelled[rows] & (cancel_day < world.as_of_index)
    arrived = req.arrival[i] < world.as_of_index
    no_show = realized.no_show[rows] & arrived
    room_type = names[req.room_type[i]]
    upgrade_to = names[np.minimum(req.room_type[i] + 1, len(names) - 1)]
    assigned = np.where(req.upgrade[i] & ~cancelled & arrived, upgrade_to, room_type)
    guest_ids = realized.guest[rows] + 1
    booking_ids = np.arange(1, len(rows) + 1)
    frame = pd.DataFrame(
        {
            "booking_id": booking_ids,
            "booking_ref": [booking_ref_of(int(b)) for b in booking_ids],
            "guest_id": guest_ids,
            "room_type": room_type,
            "created": created,
            "arrival": arrival,
            "departure": arrival + pd.to_timedelta(req.los[i], unit="D"),
            "cancel_date": (day0 + pd.to_timedelta(cancel_day, unit="D")).where(cancelled),
            "no_show": no_show,
            "adr": realized.nightly_rate[rows],
            "adults": req.adults[i],
            "children": req.children[i],
            "babies": req.babies[i],
            "hotel": config.hotel,
            "market_segment": seg_names[req.segment[i]],
            "distribution_channel": req.channel[i],
            "deposit_type": req.deposit[i],
            "customer_type": req.customer_type[i],
            "meal": req.meal[i],
            "country": realized.guest_country[realized.guest[rows]],
            "agent": req.agent[i],
            "company": req.company[i],
            "assigned_room_type": assigned,
            "is_repeated_guest": realized.repeated[rows].astype(np.int64),
            "previous_cancellations": realized.previous_cancellations[rows],
            "previous_bookings_not_canceled": realized.previous_stays[rows],
            "booking_changes": np.where(
                cancelled, req.booking_changes_if_cancelled[i], req.booking_changes_if_stayed[i]
            ),
            "days_in_waiting_list": req.waiting_days[i],
            "required_car_parking_spaces": req.parking[i],
            "total_of_special_requests": req.special_requests[i],
        }
    )
    bookings = normalise_bookings(frame)
    rooms = _rooms_frame(config)
    history = History(
        bookings=bookings,
        rooms=rooms,
        services=_services(world, realized, bookings, rows),
        as_of=config.as_of,
        currency=config.currency,
    )
    minutes = pd.to_timedelta(req.minute[i], unit="min")
    first_room = np.cumsum([0] + [rt.rooms for rt in config.room_types])[:-1]
    room_row = first_room[req.room_type[i]] + realized.room[rows]
    room_number = np.where(
        realized.room[rows] >= 0,
        rooms["room_number"].to_numpy()[np.clip(room_row, 0, len(rooms) - 1)],
        None,
    )
    booking_times = pd.DataFrame(
        {
            "booking_id": booking_ids,
            "created_at": (created + minutes).tz_localize("UTC"),
            "room_number": room_number,
        }
    )
    return SyntheticHistory(
        history, _guests_frame(world, realized, bookings), booking_times, world, realized
    )


def booking_ref_of(booking_id: int) -> str:
    """The hotel's booking id of a generated booking: ``BOOK001``, ``BOOK002``, ..."""
    return f"BOOK{booking_id:03d}"


def guest_ref_of(guest_id: int) -> str:
    """The hotel's guest id of a generated guest: ``GUEST001``, ``GUEST002``, ..."""
    return f"GUEST{guest_id:03d}"


def room_views(rooms: pd.DataFrame) -> list[str]:
    """The view of each generated room (``<view>_view``, stored among the room's amenities):
    the dearest room type looks at the ocean, the cheapest at the city, the others alternate
    (every third room of a floor on the ocean side)."""
    rates = rooms.groupby("room_type")["base_rate"].max()
    dearest, cheapest = str(rates.idxmax()), str(rates.idxmin())
    views = []
    for number, room_type in zip(rooms["room_number"], rooms["room_type"], strict=True):
        if room_type == dearest:
            views.append("ocean_view")
        elif room_type == cheapest:
            views.append("city_view")
        else:
            views.append("ocean_view" if int(str(number)[-2:]) % 3 == 1 else "city_view")
    return views


def _rooms_frame(config: GeneratorConfig) -> pd.DataFrame:
    rows = []
    floor_rooms = 20
    number = 0
    for spec in config.room_types:
        for _ in range(spec.rooms):
            floor, pos = divmod(number, floor_rooms)
            rows.append(
                {
                    "room_number": f"{floor + 1}{pos + 1:02d}",
                    "room_type": spec.name,
                    "capacity": spec.capacity,
                    "base_rate": float(spec.base_rate),
                }
            )
            number += 1
    return pd.DataFrame(rows, columns=list(ROOM_COLUMNS))


def _guests_frame(
    world: SyntheticWorld, realized: Realized, bookings: pd.DataFrame
) -> pd.DataFrame:
    used = np.sort(bookings["guest_id"].unique())
    rng = np.random.default_rng([world.config.seed, 1])
    n = int(realized.guest_country.shape[0])
    first = np.array(_FIRST, dtype=object)[rng.integers(len(_FIRST), size=n)]
    last = np.array(_LAST, dtype=object)[rng.integers(len(_LAST), size=n)]
    stays = bookings[~bookings["cancel_date"].notna()].groupby("guest_id").size()
    frame = pd.DataFrame({"guest_id": used})
    frame["guest_ref"] = [guest_ref_of(int(gid)) for gid in used]
    g = used - 1
    frame["full_name"] = [f"{a} {b}" for a, b in zip(first[g], last[g], strict=True)]
    frame["email"] = [f"guest{gid}@example.invalid" for gid in used]
    frame["country"] = realized.guest_country[g]
    frame["nationality"] = [ISO2.get(str(c), None) for c in frame["country"]]
    count = frame["guest_id"].map(stays).fillna(0).to_numpy()
    tiers = np.full(len(count), None, dtype=object)
    tiers[count >= 3] = "silver"
    tiers[count >= 6] = "gold"
    frame["loyalty_tier"] = tiers
    frame["vip"] = count >= 8
    first_seen = bookings.groupby("guest_id")["created"].min()
    frame["created"] = frame["guest_id"].map(first_seen)
    return frame


def _services(
    world: SyntheticWorld, realized: Realized, bookings: pd.DataFrame, rows: np.ndarray
) -> pd.DataFrame:
    """Services ordered during stays that have begun before ``as_of``."""
    rng = np.random.default_rng([world.config.seed, 2])
    req = world.requests
    i = realized.request[rows]
    stayed = (bookings["cancel_date"].isna() & ~bookings["no_show"]).to_numpy()
    begun = bookings["arrival"].to_numpy() < pd.Timestamp(world.config.as_of)
    take = stayed & begun
    b = bookings[take].reset_index(drop=True)
    i = i[take]
    n = len(b)
    seg = req.segment[i]
    business = np.array([SEGMENTS[s].business for s in seg])
    leisure = ~business
    aviation = seg == [s.name for s in SEGMENTS].index("Aviation")
    nights = ((b["departure"] - b["arrival"]) / pd.Timedelta(days=1)).to_numpy().astype(int)
    kids = (b["children"] + b["babies"]).to_numpy() > 0
    suite = (b["room_type"] == world.room_type_names[-1]).to_numpy()
    intl = (b["country"] != HOME_COUNTRY[0]).to_numpy()
    board = b["meal"].isin(("BB", "HB", "FB")).to_numpy()
    half = b["meal"].isin(("HB", "FB")).to_numpy()
    parking = b["required_car_parking_spaces"].to_numpy() > 0
    fav = realized.guest_favourites[realized.guest[rows][take]]
    logits = {
        "breakfast": -0.6 - 4.0 * board + 0.3 * kids,
        "spa": -2.4 + 1.1 * suite + 0.3 * leisure - 0.8 * business + 0.5 * (nights >= 3),
        "airport_transfer": -2.2 + 0.9 * intl + 1.6 * aviation + 0.3 * (nights >= 4),
        "late_checkout": -2.4 + 0.5 * business + 0.4 * leisure * (nights <= 2),
        "restaurant_dinner": -1.6 - 3.0 * half + 0.5 * business + 0.5 * suite,
        "laundry": -3.2 + 1.8 * (nights >= 5) + 0.5 * business,
        "minibar": -1.9 + 0.8 * suite - 0.3 * kids,
        "city_tour": -2.6
        + 0.8 * leisure
        + 0.6 * intl
        + 0.3 * kids
        + 0.4 * (nights >= 3)
        - 1.5 * business,
        "parking": np.where(parking, 3.0, -5.0),
    }
    people = (b["adults"] + b["children"]).to_numpy()
    quantity = {
        "breakfast": people * nights,
        "parking": nights,
        "laundry": 1 + (nights >= 7),
        "minibar": np.maximum(1, nights // 2),
        "city_tour": b["adults"].to_numpy(),
    }
    frames = []
    for k, name in enumerate(SERVICE_NAMES):
        z = logits[name] + 1.8 * (fav == k).any(axis=1)
        ordered = rng.random(n) < 1.0 / (1.0 + np.exp(-z))
        q = np.broadcast_to(np.asarray(quantity.get(name, 1)), (n,))[ordered]
        offset = np.floor(rng.random(n)[ordered] * nights[ordered]).astype(int)
        frames.append(
            pd.DataFrame(
                {
                    "booking_id": b["booking_id"].to_numpy()[ordered],
                    "guest_id": b["guest_id"].to_numpy()[ordered],
                    "service": name,
                    "quantity": q.astype(np.int64),
                    "amount": np.round(q * SERVICE_PRICES[name], 2),
                    "date": b["arrival"].to_numpy()[ordered] + offset.astype("timedelta64[D]"),
                }
            )
        )
    services = pd.concat(frames, ignore_index=True)
    services = services[services["date"] < pd.Timestamp(world.config.as_of)]
    services["date"] = services["date"].astype("datetime64[ns]")
    services["service"] = services["service"].astype(str)
    return services.sort_values(["date", "booking_id"], kind="stable").reset_index(drop=True)
