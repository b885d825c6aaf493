"""Stock alerts: each SKU at each location is in stock, low or out, and says when that changes.

Alerts are raised on transitions only, so a burst of reservations crossing the threshold
raises one LowStock, not one per reservation.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["Alert", "AlertState", "alert_state", "alerts_between"]


class AlertState(StrEnum):
    OK = "ok"
    LOW = "low"
    OUT = "out"


class Alert(StrEnum):
    LOW_STOCK = "LowStock"
    OUT_OF_STOCK = "OutOfStock"
    BACK_IN_STOCK = "BackInStock"


def alert_state(available: int, low_stock_threshold: int) -> AlertState:
    """Out at zero or below; low at or below the threshold (a threshold of 0 never warns)."""
    if available <= 0:
        return AlertState.OUT
    if available <= low_stock_threshold:
        return AlertState.LOW
    return AlertState.OK


def alerts_between(previous: AlertState, current: AlertState) -> list[Alert]:
    """What to tell subscribers when the state moves from ``previous`` to ``current``."""
    if previous == current:
        return []
    if current is AlertState.OUT:
        return [Alert.OUT_OF_STOCK]
    alerts = [Alert.BACK_IN_STOCK] if previous is AlertState.OUT else []
    if current is AlertState.LOW:
        alerts.append(Alert.LOW_STOCK)
    return alerts
