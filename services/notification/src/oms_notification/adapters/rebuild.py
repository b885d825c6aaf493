"""What ``oms rebuild notification`` reproduces: the orders as messages show them and every
customer message with its outcome, checked against the live tables. The outcomes are read
back from the service's own topic (the rebuild sends nothing; the bootstrap adds that
subscription). What arrived over HTTP, and the webhook deliveries and alert windows that
depend on it and on the clock, are copied from the live database."""

from __future__ import annotations

from oms_runtime import CompareTable, RebuildSpec, SeedTable

__all__ = ["REBUILD"]

_PROCESSED = "when the row was written: the moment of processing, not of the event"

REBUILD = RebuildSpec(
    tables=(
        CompareTable("customer_orders", {"last_event_at": _PROCESSED}),
        CompareTable(
            "notifications",
            {
                "created_at": _PROCESSED,
                "next_attempt_at": "when the dispatcher was to try: the queueing moment, or a "
                "retry's time from the clock with jitter",
                "claimed_at": "when the dispatcher claimed the message: the clock",
            },
        ),
    ),
    seeded=(
        SeedTable("customer_preferences", "each customer's preferences, set over HTTP"),
        SeedTable("webhook_subscriptions", "created, paused and removed by operators over HTTP"),
        SeedTable(
            "webhook_events",
            "the events kept for the deliveries below (copied with them)",
        ),
        SeedTable(
            "webhook_deliveries",
            "which subscriptions were active when each event arrived is not recorded (they "
            "change over HTTP), nor which alerts a window of the clock let through: the "
            "deliveries and their outcomes are copied, not queued again",
        ),
        SeedTable("webhook_resends", "re-sends operators asked for over HTTP"),
        SeedTable(
            "alert_windows",
            "alerts counted in windows of the clock: copied so that the rate limit goes on "
            "where it was after a swap",
        ),
    ),
    side_effects={
        "e-mail and SMS": "not sent (no dispatcher runs): each message's outcome is read "
        "back from NotificationSent, NotificationFailed and NotificationSuppressed on "
        "oms.notifications",
        "webhook and alert deliveries": "not sent, not queued again: copied from the live "
        "database with their outcomes",
        "recipient purge": "not run",
        "outgoing events": "none are made (the dispatchers make them); the rebuilt outbox "
        "is emptied at the end",
    },
)
