"""The topic registry: every topic, its single writer, its key and the events it carries.

Names here are logical; deployments add a prefix (``full_name``) so several stacks
can share one broker.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

__all__ = [
    "DEAD_LETTER_RETENTION_MS",
    "TOPICS",
    "TopicSpec",
    "all_topic_names",
    "all_topic_specs",
    "topic",
    "topic_for_event",
]

_DAY_MS = 24 * 60 * 60 * 1000
DEAD_LETTER_RETENTION_MS = 30 * _DAY_MS
_INPUT_RETENTION_MS = 14 * _DAY_MS
_NOTIFICATION_RETENTION_MS = 30 * _DAY_MS  # the notification service keeps its own ledger
_FOREVER = -1  # public facts are replayed to rebuild state and feed new subscribers
_PARTITIONS = 6  # a small machine; per-key ordering is what matters, not parallelism


@dataclass(frozen=True)
class TopicSpec:
    name: str
    """Logical name without prefix, e.g. ``oms.orders``."""
    owner: str
    """The one writing service (``order``, ``inventory``...) or ``external:<who>``."""
    key: str
    """What the record key is, e.g. ``order_id`` or ``sku@location``."""
    partitions: int
    compacted: bool = False
    retention_ms: int | None = None
    """None = broker default; -1 = keep forever."""
    event_types: tuple[str, ...] = ()
    input: bool = False
    """Written by the outside world and validated as hostile input."""

    @property
    def dead_letter(self) -> str:
        return f"{self.name}.dlq"

    def full_name(self, prefix: str = "") -> str:
        return prefix + self.name

    def config(self) -> dict[str, str]:
        """Kafka topic configs to create the topic with."""
        cfg = {"cleanup.policy": "compact" if self.compacted else "delete"}
        if self.retention_ms is not None:
            cfg["retention.ms"] = str(self.retention_ms)
        if self.compacted:
            # Keep a minute of history uncompacted so a consumer that lags slightly
            # still sees every change, and drop tombstones after a day.
            cfg["min.compaction.lag.ms"] = "60000"
            cfg["delete.retention.ms"] = str(_DAY_MS)
        return cfg

    def dead_letter_spec(self) -> TopicSpec:
        """The twin that receives records this topic's consumers could not process."""
        return replace(
            self,
            name=self.dead_letter,
            compacted=False,
            retention_ms=DEAD_LETTER_RETENTION_MS,
            event_types=(),
            input=False,
        )


TOPICS: tuple[TopicSpec, ...] = (
    TopicSpec(
        name="oms.channel-order-intake",
        owner="external:channels",
        key="channel:external_order_id",
        partitions=_PARTITIONS,
        retention_ms=_INPUT_RETENTION_MS,
        event_types=("OrderSubmitted", "OrderCancellationRequested"),
        input=True,
    ),
    TopicSpec(
        name="oms.order-commands",
        owner="external:customer-service",
        key="order_id",
        partitions=_PARTITIONS,
        retention_ms=_INPUT_RETENTION_MS,
        event_types=(
            "CancelOrder",
            "HoldOrder",
            "ReleaseOrder",
            "ChangeShippingAddress",
            "RequestReturn",
            "ReceiveReturn",
            "InspectReturn",
        ),
        input=True,
    ),
    TopicSpec(
        name="oms.orders",
        owner="order",
        key="order_id",
        partitions=_PARTITIONS,
        retention_ms=_FOREVER,
        event_types=(
            "OrderAccepted",
            "OrderRejected",
            "OrderConfirmed",
            "OrderHeld",
            "OrderReleased",
            "OrderLinesCanceled",
            "OrderCanceled",
            "ShippingAddressChanged",
            "OrderCompleted",
            "OrderCommandRejected",
            "OrderStuck",
        ),
    ),
    TopicSpec(
        name="oms.payments",
        owner="order",
        key="order_id",
        partitions=_PARTITIONS,
        retention_ms=_FOREVER,
        event_types=(
            "PaymentAuthorized",
            "PaymentFailed",
            "PaymentCaptured",
            "PaymentVoided",
            "RefundIssued",
        ),
    ),
    TopicSpec(
        name="oms.returns",
        owner="order",
        key="order_id",
        partitions=_PARTITIONS,
        retention_ms=_FOREVER,
        event_types=(
            "ReturnRequested",
            "ReturnAuthorized",
            "ReturnReceived",
            "ReturnInspected",
            "ExchangeCreated",
            "ClaimOpened",
        ),
    ),
    TopicSpec(
        name="oms.inventory",
        owner="inventory",
        key="sku@location",
        partitions=_PARTITIONS,
        retention_ms=_FOREVER,
        event_types=(
            "StockReserved",
            "ReservationFailed",
            "ReservationReleased",
            "ReservationExpired",
            "StockCommitted",
            "StockAdjusted",
            "StockDayClosed",
            "LowStock",
            "OutOfStock",
            "BackInStock",
            "InventoryDiscrepancyReported",
        ),
    ),
    TopicSpec(
        name="oms.availability",
        owner="inventory",
        key="sku@location",
        partitions=_PARTITIONS,
        compacted=True,
        event_types=("AvailabilityChanged", "NetworkAvailabilityChanged"),
    ),
    TopicSpec(
        name="oms.inventory-feed",
        owner="external:wms-erp-pos",
        key="sku@location",
        partitions=_PARTITIONS,
        retention_ms=_INPUT_RETENTION_MS,
        event_types=(
            "StockSnapshot",
            "StockAdjustment",
            "StockReceived",
            "TransferShipped",
            "TransferReceived",
        ),
        input=True,
    ),
    TopicSpec(
        name="oms.reservation-requests",
        owner="orchestration",
        key="order_id",
        partitions=_PARTITIONS,
        retention_ms=_FOREVER,
        event_types=("ReserveStock", "ReleaseReservations", "ReduceReservations"),
    ),
    TopicSpec(
        name="oms.sourcing",
        owner="orchestration",
        key="order_id",
        partitions=_PARTITIONS,
        retention_ms=_FOREVER,
        event_types=(
            "SourcingDecided",
            "OrderAllocated",
            "OrderBackordered",
            "FulfilmentOrderCreated",
            "FulfilmentOrderRerouted",
            "FulfilmentOrderCanceled",
            "FulfilmentOrderLinesCanceled",
        ),
    ),
    TopicSpec(
        name="oms.staff-actions",
        owner="external:staff-apps",
        key="order_id",
        partitions=_PARTITIONS,
        retention_ms=_INPUT_RETENTION_MS,
        event_types=(
            "FulfilmentAccepted",
            "FulfilmentRejected",
            "PickStarted",
            "ParcelPacked",
            "HandedOver",
            "ReceivedAtStore",
            "Collected",
        ),
        input=True,
    ),
    TopicSpec(
        name="oms.shipments",
        owner="shipping",
        key="order_id",
        partitions=_PARTITIONS,
        retention_ms=_FOREVER,
        event_types=(
            "FulfilmentOrderAccepted",
            "FulfilmentOrderRejected",
            "Packed",
            "ReadyToShip",
            "ReadyForPickup",
            "ShipmentShipped",
            "InTransit",
            "OutForDelivery",
            "Delivered",
            "PickedUpByCustomer",
            "PickupExpired",
            "DeliveryException",
            "ReturnedToSender",
        ),
    ),
    TopicSpec(
        name="oms.carrier-tracking",
        owner="external:carriers",
        key="tracking_number",
        partitions=_PARTITIONS,
        retention_ms=_INPUT_RETENTION_MS,
        event_types=("TrackingUpdateReceived",),
        input=True,
    ),
    TopicSpec(
        name="oms.notifications",
        owner="notification",
        key="order_id",
        partitions=_PARTITIONS,
        retention_ms=_NOTIFICATION_RETENTION_MS,
        event_types=(
            "NotificationSent",
            "NotificationFailed",
            "NotificationSuppressed",
            "WebhookDelivered",
            "WebhookDeadLettered",
        ),
    ),
    TopicSpec(
        # Every service's runtime writes here: the one topic without a single writing service.
        name="oms.operations",
        owner="runtime",
        key="topic",
        partitions=_PARTITIONS,
        retention_ms=_NOTIFICATION_RETENTION_MS,
        event_types=("RecordDeadLettered",),
    ),
    TopicSpec(
        # Stuck orders as analytics judges them on event time; replayable, hence kept like
        # the other alerts, not for ever.
        name="oms.analytics-alerts",
        owner="analytics",
        key="order_id",
        partitions=_PARTITIONS,
        retention_ms=_NOTIFICATION_RETENTION_MS,
        event_types=("StuckOrderDetected", "StuckOrderCleared"),
    ),
    TopicSpec(
        name="oms.operator-audit",
        owner="operator",
        key="subject",
        partitions=_PARTITIONS,
        retention_ms=_FOREVER,
        event_types=("OperatorActionRecorded",),
    ),
)

_BY_NAME: dict[str, TopicSpec] = {spec.name: spec for spec in TOPICS}
_BY_EVENT: dict[str, TopicSpec] = {
    event_type: spec for spec in TOPICS for event_type in spec.event_types
}


def topic(name: str) -> TopicSpec:
    """The topic with logical name ``name`` (no prefix, no ``.dlq``)."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown topic {name!r}; known: {', '.join(sorted(_BY_NAME))}") from None


def topic_for_event(event_type: str) -> TopicSpec:
    """The one topic that carries ``event_type``."""
    try:
        return _BY_EVENT[event_type]
    except KeyError:
        raise KeyError(f"event type {event_type!r} is on no topic") from None


def all_topic_specs() -> list[TopicSpec]:
    """Every topic followed by its dead-letter twin, in registry order."""
    return [s for spec in TOPICS for s in (spec, spec.dead_letter_spec())]


def all_topic_names(prefix: str = "") -> list[str]:
    """Full names of every topic and its dead-letter twin."""
    return [spec.full_name(prefix) for spec in all_topic_specs()]
