"""Labels: issued at packing for every parcel going to a carrier (under the service rate
shopping chose), and a return label for a shipped parcel on request.

Each label gets a tracking number from its carrier's counter (prefix, serial, check digit),
is rendered as a 4x6 inch PDF and as ZPL, and is kept with the choice that made it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID
from zoneinfo import ZoneInfo

from oms_events.fulfilment import LabelledParcel, RateAlternative, ReadyToShip
from oms_events.values import Money
from oms_runtime import UnitOfWork
from oms_shipping.adapters.fulfilment_orders import Refusal, postal_address
from oms_shipping.adapters.label_pdf import render_pdf
from oms_shipping.adapters.label_zpl import render_zpl
from oms_shipping.adapters.labels import LabelRow, ReturnSource
from oms_shipping.domain.carrier_choice import Alternative, CarrierChoice
from oms_shipping.domain.dispatch import DispatchConfig, PostalAddress
from oms_shipping.domain.fulfilment import ActionRefused, FulfilmentOrder, ParcelLabel
from oms_shipping.domain.labels import LabelContent, LabelKind
from oms_shipping.domain.tracking_numbers import serial_of, tracking_number
from oms_shipping.service_layer.rate_shopping import Shopped
from oms_shipping.service_layer.stores import LabelStore

__all__ = ["Labelling", "alternative_view", "ready_to_ship"]

_SHIPPED = ("SHIPPED", "DELIVERED")


def alternative_view(alternative: Alternative) -> dict[str, object]:
    """How an alternative is kept and shown."""
    quote = alternative.quote
    return {
        "carrier": quote.carrier,
        "service": quote.service,
        "lost_because": alternative.lost_because,
        "cost_minor": quote.cost_minor,
        "estimated_delivery": (
            quote.estimated_delivery.isoformat() if quote.estimated_delivery else None
        ),
    }


def _rendered(
    content: LabelContent,
    fulfilment_order_id: str,
    parcel_id: str,
    currency: str,
    *,
    billable_grams: int,
    choice: CarrierChoice | None = None,
) -> LabelRow:
    """The label printed both ways, kept with the choice that made it (outbound only)."""
    chosen = choice.chosen if choice else None
    return LabelRow(
        carrier=content.carrier,
        tracking_number=content.tracking_number,
        fulfilment_order_id=fulfilment_order_id,
        parcel_id=parcel_id,
        kind=content.kind.value,
        service=content.service,
        weight_grams=content.weight_grams,
        billable_grams=billable_grams,
        cost_minor=chosen.cost_minor if chosen else None,
        currency=currency,
        estimated_delivery=chosen.estimated_delivery if chosen else None,
        meets_promise=choice.meets_promise if choice else None,
        alternatives=[alternative_view(a) for a in choice.alternatives] if choice else [],
        pdf=render_pdf(content),
        zpl=render_zpl(content),
    )


def ready_to_ship(
    fo: FulfilmentOrder, labels: Sequence[LabelRow], currency: str, at: datetime
) -> ReadyToShip:
    """The carrier choice of every parcel, with its alternatives, as published."""

    def money(amount: int | None) -> Money | None:
        return None if amount is None else Money(amount_minor=amount, currency=currency)

    return ReadyToShip(
        order_id=fo.order_id,
        fulfilment_order_id=fo.fulfilment_order_id,
        location_id=fo.location_id,
        shipment_id=fo.shipment_id,
        policy=fo.policy,
        parcels=tuple(
            LabelledParcel(
                parcel_id=label.parcel_id,
                carrier=label.carrier,
                service=label.service,
                tracking_number=label.tracking_number,
                cost=Money(amount_minor=label.cost_minor or 0, currency=currency),
                billable_weight_grams=label.billable_grams,
                estimated_delivery=label.estimated_delivery,
                meets_promise=label.meets_promise,
                alternatives=tuple(
                    RateAlternative(
                        carrier=a["carrier"],
                        service=a["service"],
                        lost_because=a["lost_because"],
                        cost=money(a["cost_minor"]),
                        estimated_delivery=a["estimated_delivery"],
                    )
                    for a in label.alternatives
                ),
            )
            for label in labels
        ),
        promised_by=fo.promised_by,
        promise_at_risk=fo.promise_at_risk,
        ready_at=at,
    )


@dataclass
class Labelling:
    dispatch: DispatchConfig
    labels: LabelStore

    async def _numbers(self, work: UnitOfWork, carriers: list[str]) -> list[str]:
        """A new tracking number for each of ``carriers`` (one entry per label)."""
        if not carriers:
            return []
        counts = {c: carriers.count(c) for c in set(carriers)}
        first = await self.labels.draw_serials(work.conn, counts)
        drawn = {c: 0 for c in counts}
        numbers = []
        for carrier in carriers:
            serial = first[carrier] + drawn[carrier]
            drawn[carrier] += 1
            numbers.append(tracking_number(self.dispatch.carriers[carrier].tracking_prefix, serial))
        return numbers

    def _printed_on(self, location_id: str, at: datetime) -> datetime:
        return at.astimezone(ZoneInfo(self.dispatch.locations[location_id].timezone))

    async def _issued_again(
        self,
        work: UnitOfWork,
        wanted: list[tuple[str, str]],
        issued: Mapping[str, tuple[str, str]],
    ) -> list[str]:
        """A number for each (parcel, carrier) of ``wanted``: the one ``issued`` live under
        that carrier (a rebuild; the counters move past it), else a new one."""
        numbers: list[str | None] = []
        serials: dict[str, int] = {}
        for parcel_id, carrier in wanted:
            live = issued.get(parcel_id)
            number = live[1] if live and live[0] == carrier else None
            serial = serial_of(number) if number else None
            if number and serial is not None:
                serials[carrier] = max(serials.get(carrier, 0), serial)
            numbers.append(number)
        if serials:
            await self.labels.advance_serials(work.conn, serials)
        missing = [carrier for (_, carrier), n in zip(wanted, numbers, strict=True) if not n]
        drawn = iter(await self._numbers(work, missing))
        return [n or next(drawn) for n in numbers]

    async def label_packed(
        self,
        work: UnitOfWork,
        fo: FulfilmentOrder,
        shopped: Shopped,
        packed_at: datetime,
        issued: Mapping[str, tuple[str, str]] | None = None,
    ) -> list[LabelRow]:
        """A label per parcel under its chosen service; ``fo`` records them. ``issued``: the
        carrier and number each parcel's label got live (a rebuild takes them again)."""
        wanted = [(parcel.parcel_id, choice.chosen.carrier) for parcel, choice in shopped.choices]
        numbers = (
            await self._issued_again(work, wanted, issued)
            if issued
            else await self._numbers(work, [carrier for _, carrier in wanted])
        )
        printed_on = self._printed_on(fo.location_id, packed_at).date()
        rows = []
        for n, ((parcel, choice), number) in enumerate(zip(shopped.choices, numbers, strict=True)):
            chosen = choice.chosen
            content = LabelContent(
                kind=LabelKind.OUTBOUND,
                tracking_number=number,
                carrier=chosen.carrier,
                service=chosen.service,
                weight_grams=parcel.weight_grams,
                parcel_number=n + 1,
                parcel_count=len(shopped.choices),
                ship_from=shopped.ship_from,
                ship_to=shopped.ship_to,
                reference=fo.order_id,
                printed_on=printed_on,
            )
            rows.append(
                _rendered(
                    content,
                    fo.fulfilment_order_id,
                    parcel.parcel_id,
                    self.dispatch.currency,
                    billable_grams=chosen.billable_grams,
                    choice=choice,
                )
            )
        fo.label(
            tuple(ParcelLabel(r.parcel_id, r.carrier, r.tracking_number) for r in rows),
            shopped.policy.choose.value,
            shopped.promise_at_risk,
        )
        return rows

    def _return_addresses(
        self, source: ReturnSource
    ) -> tuple[PostalAddress, PostalAddress] | ActionRefused:
        """From the customer back to the location; refused before the parcel left."""
        if source.status not in _SHIPPED:
            return ActionRefused("not_shipped", f"the fulfilment order is {source.status}")
        customer = postal_address(source.shipping_address)
        location = self.dispatch.locations.get(source.location_id)
        if customer is None or location is None:
            return ActionRefused("no_return_address", "the parcel's addresses are not known")
        return customer, location.address

    async def return_label(
        self,
        work: UnitOfWork,
        request_id: UUID,
        fulfilment_order_id: str,
        parcel_id: str,
        at: datetime,
    ) -> bool | ActionRefused:
        """Issue a shipped parcel's return label, from the customer back to the location it
        left; once (asked again, the first one stays). False when the parcel has no
        outbound label; the refusal (kept under ``request_id``) when it has not left yet or
        an address is unknown."""
        kind = LabelKind.RETURN.value
        if await self.labels.label_document(work.conn, fulfilment_order_id, parcel_id, kind):
            return True
        source = await self.labels.return_source(work.conn, fulfilment_order_id, parcel_id)
        if source is None:
            return False
        addresses = self._return_addresses(source)
        if isinstance(addresses, ActionRefused):
            await self.labels.keep_refusal(
                work.conn,
                Refusal(
                    event_id=request_id,
                    fulfilment_order_id=fulfilment_order_id,
                    order_id=source.order_id,
                    location_id=source.location_id,
                    action="return_label",
                    reason=addresses.reason,
                    detail=addresses.detail,
                ),
            )
            return addresses
        customer, home = addresses
        [number] = await self._numbers(work, [source.carrier])
        content = LabelContent(
            kind=LabelKind.RETURN,
            tracking_number=number,
            carrier=source.carrier,
            service=source.service,
            weight_grams=source.weight_grams,
            parcel_number=source.parcel_number,
            parcel_count=source.parcel_count,
            ship_from=customer,
            ship_to=home,
            reference=source.order_id,
            printed_on=self._printed_on(source.location_id, at).date(),
        )
        await self.labels.save_labels(
            work.conn,
            [
                _rendered(
                    content,
                    fulfilment_order_id,
                    parcel_id,
                    self.dispatch.currency,
                    billable_grams=source.weight_grams,
                )
            ],
        )
        return True
