"""Where customers and locations are: coordinates, distances, and postal zones.

The OMS does not call a geocoding service: a customer's address is placed at the centre of
its postal zone (country and leading digits of the postal code), from the network file.
That is precise enough to rank locations tens of kilometres apart.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["Point", "distance_km", "locate"]

_EARTH_RADIUS_KM = 6371.0088


@dataclass(frozen=True)
class Point:
    latitude: float
    longitude: float


def distance_km(a: Point, b: Point) -> float:
    """Great-circle (haversine) distance."""
    lat1, lat2 = math.radians(a.latitude), math.radians(b.latitude)
    dlat = lat2 - lat1
    dlon = math.radians(b.longitude - a.longitude)
    h = math.sin(dlat / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin(dlon / 2) ** 2
    return 2 * _EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


def locate(
    zones: Mapping[str, Mapping[str, Point]], country: str, postal_code: str
) -> Point | None:
    """The centre of the longest configured postal prefix of ``postal_code`` in ``country``."""
    prefixes = zones.get(country, {})
    code = postal_code.replace(" ", "").upper()
    for length in range(len(code), 0, -1):
        point = prefixes.get(code[:length])
        if point is not None:
            return point
    return None
