"""Carrier scans: normalised, kept, and applied to their parcels when newer than the parcel's
latest, a run at a time with one statement per table.

A scan of an unknown carrier, an unmapped status code or an unknown tracking number is
dead-lettered with the reason. A shipment (one hand-over) is delivered when every one of its
parcels is; its fulfilment order when every parcel of it is, the last handed over.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import structlog

from oms_events.fulfilment import (
    Delivered,
    DeliveryException,
    InTransit,
    OutForDelivery,
    ReturnedToSender,
    TrackingUpdateReceived,
)
from oms_events.registry import EventPayload
from oms_runtime import Received, RejectedEvent, UnitOfWork
from oms_shipping.adapters.parcels import KeptScan, ParcelRow
from oms_shipping.domain.tracking import (
    CarrierCodes,
    CarrierStatus,
    NotNormalised,
    ParcelState,
    ParcelStatus,
    judge,
)
from oms_shipping.service_layer.stores import ParcelStore

__all__ = ["TrackingHandlers"]

_log = structlog.get_logger(__name__)


@dataclass
class TrackingHandlers:
    carriers: CarrierCodes
    parcels: ParcelStore

    async def updates(
        self, work: UnitOfWork, scans: Sequence[Received[TrackingUpdateReceived]]
    ) -> None:
        meanings = [self._normalised(r) for r in scans]
        keys = [(r.payload.carrier, r.payload.tracking_number) for r in scans]
        found = await self.parcels.lock_parcels(work.conn, keys)
        for key in keys:
            if key not in found:
                raise RejectedEvent(
                    "unknown_tracking_number",
                    f"no parcel of {key[0]} with tracking number {key[1]}",
                )
        current = dict(found)
        kept: list[KeptScan] = []
        delivered_by: dict[str, Received[TrackingUpdateReceived]] = {}
        for r, key, meaning in zip(scans, keys, meanings, strict=True):
            scan = r.payload
            parcel = current[key]
            verdict = judge(
                ParcelState(parcel.status, parcel.latest_at), meaning.status, scan.occurred_at
            )
            kept.append(
                KeptScan(
                    event_id=r.envelope.id,
                    carrier=scan.carrier,
                    tracking_number=scan.tracking_number,
                    carrier_status_code=scan.carrier_status_code,
                    status=meaning.status,
                    occurred_at=scan.occurred_at,
                    applied=verdict.applied,
                    note=verdict.note,
                )
            )
            if not verdict.applied:
                _log.info(
                    "tracking_update_not_applied",
                    order_id=parcel.order_id,
                    status=meaning.status.value,
                    note=verdict.note,
                )
                continue
            current[key] = replace(parcel, status=meaning.status, latest_at=scan.occurred_at)
            if meaning.status is ParcelStatus.DELIVERED:
                delivered_by[parcel.shipment_id] = r
                continue
            work.for_event(r.envelope).emit(
                self._fact(parcel, meaning, scan), subject=parcel.order_id
            )
        await self.parcels.keep_scans(work.conn, kept)
        await self.parcels.save_parcels(work.conn, [p for k, p in current.items() if p != found[k]])
        if delivered_by:
            for shipment_id in await self.parcels.complete_deliveries(
                work.conn, sorted(delivered_by)
            ):
                r = delivered_by[shipment_id]
                scan = r.payload
                parcel = current[(scan.carrier, scan.tracking_number)]
                work.for_event(r.envelope).emit(
                    Delivered(
                        order_id=parcel.order_id,
                        shipment_id=shipment_id,
                        carrier=scan.carrier,
                        tracking_number=scan.tracking_number,
                        occurred_at=scan.occurred_at,
                    ),
                    subject=parcel.order_id,
                )
        _log.info(
            "tracking_updates_taken",
            scans=len(kept),
            applied=sum(s.applied for s in kept),
            delivered=len(delivered_by),
        )

    def _normalised(self, received: Received[TrackingUpdateReceived]) -> CarrierStatus:
        scan = received.payload
        try:
            return self.carriers.normalise(scan.carrier, scan.carrier_status_code)
        except NotNormalised as exc:
            raise RejectedEvent(exc.reason, exc.detail) from None

    @staticmethod
    def _fact(
        parcel: ParcelRow, meaning: CarrierStatus, scan: TrackingUpdateReceived
    ) -> EventPayload:
        order_id, shipment_id = parcel.order_id, parcel.shipment_id
        carrier, number, at = scan.carrier, scan.tracking_number, scan.occurred_at
        if meaning.status is ParcelStatus.IN_TRANSIT:
            return InTransit(
                order_id=order_id,
                shipment_id=shipment_id,
                carrier=carrier,
                tracking_number=number,
                occurred_at=at,
                location_description=scan.location,
            )
        if meaning.status is ParcelStatus.OUT_FOR_DELIVERY:
            return OutForDelivery(
                order_id=order_id,
                shipment_id=shipment_id,
                carrier=carrier,
                tracking_number=number,
                occurred_at=at,
            )
        if meaning.status is ParcelStatus.DELIVERY_EXCEPTION:
            assert meaning.exception is not None
            return DeliveryException(
                order_id=order_id,
                shipment_id=shipment_id,
                carrier=carrier,
                tracking_number=number,
                occurred_at=at,
                code=meaning.exception,
                description=scan.description or meaning.exception,
            )
        assert meaning.status is ParcelStatus.RETURNED_TO_SENDER
        return ReturnedToSender(
            order_id=order_id,
            shipment_id=shipment_id,
            carrier=carrier,
            tracking_number=number,
            occurred_at=at,
            reason=scan.description or "returned to sender",
        )
