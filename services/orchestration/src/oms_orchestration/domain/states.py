"""Every status the orchestration service keeps, as the database's CHECK constraints allow
them (adapters/migrations/0001_orchestration.sql)."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["AllocationStatus", "FulfilmentStatus", "SagaState"]


class SagaState(StrEnum):
    SOURCING = "sourcing"
    """Decisions made, inventory's answers awaited."""
    ALLOCATED = "allocated"
    BACKORDERED = "backordered"
    """Some lines wait for stock to come back."""
    CANCELED = "canceled"


class AllocationStatus(StrEnum):
    """One reservation asked of inventory for one line at one location."""

    REQUESTED = "requested"
    HELD = "held"
    FAILED = "failed"
    RELEASED = "released"


class FulfilmentStatus(StrEnum):
    CREATED = "created"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    CANCELED = "canceled"
