"""The services a guest can order during a stay, with their list prices (hotel currency)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    unit_price: float
    description: str

    @property
    def service_id(self) -> str:
        """The hotel-facing id: ``SVC_SPA_001``."""
        return f"SVC_{self.name.upper()}_001"

    @property
    def title(self) -> str:
        return self.name.replace("_", " ").capitalize()


SERVICES: Final[tuple[ServiceSpec, ...]] = (
    ServiceSpec("breakfast", 12.0, "breakfast buffet, per person and day"),
    ServiceSpec("spa", 60.0, "spa treatment"),
    ServiceSpec("airport_transfer", 35.0, "airport transfer"),
    ServiceSpec("late_checkout", 30.0, "late check-out until 16:00"),
    ServiceSpec("restaurant_dinner", 45.0, "dinner at the restaurant"),
    ServiceSpec("laundry", 15.0, "laundry bag"),
    ServiceSpec("minibar", 20.0, "minibar refill"),
    ServiceSpec("city_tour", 50.0, "guided city tour, per person"),
    ServiceSpec("parking", 10.0, "parking space, per night"),
)
SERVICE_NAMES: Final[tuple[str, ...]] = tuple(s.name for s in SERVICES)
SERVICE_PRICES: Final[dict[str, float]] = {s.name: s.unit_price for s in SERVICES}
SERVICE_BY_NAME: Final[dict[str, ServiceSpec]] = {s.name: s for s in SERVICES}
