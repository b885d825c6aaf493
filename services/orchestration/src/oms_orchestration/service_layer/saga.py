"""The order saga: source, reserve, release to locations, re-source, backorder, compensate.

One saga per order, its state in this service's database, moved forward only by events:
OrderConfirmed starts it; inventory's answers move it; a hold that lapses before its order is
released is sourced again; availability coming back retries its backordered lines, oldest
order first; OrderCanceled compensates. Every step runs inside the
consumed batch's transaction with its outgoing events, so a redelivered event finds the step
done and changes nothing.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import asyncpg
import structlog

from oms_events.inventory import (
    ReduceReservations,
    ReleaseReservations,
    ReservationKept,
    ReservationLine,
    ReserveStock,
)
from oms_events.sourcing import (
    Allocation,
    BackorderReason,
    FulfilmentOrderCanceled,
    FulfilmentOrderCreated,
    FulfilmentOrderLinesCanceled,
    FulfilmentOrderRerouted,
    OrderAllocated,
    OrderBackordered,
    SourcingDecided,
    SourcingExplanation,
    SplitPolicy,
)
from oms_events.values import Address, LineQuantity
from oms_orchestration.adapters.sagas import (
    NO_PROFILE,
    Decision,
    NewFulfilmentOrder,
    Saga,
)
from oms_orchestration.adapters.sagas import Allocation as AllocationRow
from oms_orchestration.domain.cancellation import work_canceled
from oms_orchestration.domain.config import NetworkLocation, Profile, SourcingConfig
from oms_orchestration.domain.delivery_promise import promised_by
from oms_orchestration.domain.sourcing import Line, OrderToSource, Plan, source
from oms_orchestration.domain.states import AllocationStatus, FulfilmentStatus, SagaState
from oms_orchestration.service_layer.recalled import RecalledDecisions
from oms_orchestration.service_layer.stores import OrderStore, SagaStore
from oms_runtime import UnitOfWork, is_infrastructure_error

__all__ = ["Orchestrator"]

_log = structlog.get_logger(__name__)
_RETRIES_PER_CHANGE = 50
_LATE = "not accepted in time"


def _quantities(lines: list[Line]) -> tuple[LineQuantity, ...]:
    return tuple(LineQuantity(line_id=ln.line_id, sku=ln.sku, quantity=ln.quantity) for ln in lines)


@dataclass(frozen=True)
class _Decided:
    """A decision planned for one order, to be stored with others of its run."""

    work: UnitOfWork
    saga: Saga
    order: OrderToSource
    profile: Profile
    plan: Plan
    decided_at: datetime
    stored: Decision
    was_backordered: tuple[LineQuantity, ...] | None = None
    """A retry of waiting lines: what waited before this decision."""


def _unchanged(d: _Decided) -> bool:
    """A retry that places nothing and leaves the same units waiting."""
    return (
        d.was_backordered is not None
        and not d.plan.allocations
        and _units(_quantities(d.plan.backordered)) == _units(d.was_backordered)
    )


def _units(lines: Sequence[LineQuantity]) -> list[tuple[str, str, int]]:
    return sorted((q.line_id, q.sku, q.quantity) for q in lines)


def _totals(lines: Iterable[Line]) -> dict[tuple[str, str], int]:
    """Units by (line, SKU): a plan may split a line over locations."""
    totals: dict[tuple[str, str], int] = defaultdict(int)
    for line in lines:
        totals[(line.line_id, line.sku)] += line.quantity
    return dict(totals)


def _decision_id(order_id: str, attempt: int) -> str:
    return f"dec-{order_id}-{attempt}"


def _fulfilment_order_id(decision_id: str, location_id: str) -> str:
    return f"fo-{decision_id}-{location_id}"


_NewFulfilmentOrder = tuple[UnitOfWork, NewFulfilmentOrder, FulfilmentOrderCreated]


@dataclass
class _Settlement:
    """What settling decisions writes, kept to be written together: sagas' states (order id,
    state, allocation announced) and new fulfilment orders (with their unit of work and
    their announcement, sent once it is known whether they replace another)."""

    sagas: list[tuple[str, SagaState, bool]] = field(default_factory=list)
    fulfilment_orders: list[_NewFulfilmentOrder] = field(default_factory=list)

    async def write(self, store: SagaStore, conn: asyncpg.Connection) -> None:
        """Two statements for all; a fulfilment order that replaces a rejected one keeps
        its promise to the customer and is announced as its reroute."""
        sagas, self.sagas = self.sagas, []
        created, self.fulfilment_orders = self.fulfilment_orders, []
        await store.settle_sagas(conn, sagas)
        replaced = await store.create_fulfilment_orders(conn, [fo for _, fo, _ in created])
        for work, fo, announced in created:
            was = replaced.get(fo.fulfilment_order_id)
            if was is not None and was.promised_by is not None:
                announced = announced.model_copy(update={"promised_by": was.promised_by})
            work.emit(announced, subject=fo.order_id)
            if was is not None:
                work.emit(
                    FulfilmentOrderRerouted(
                        order_id=fo.order_id,
                        fulfilment_order_id=was.fulfilment_order_id,
                        from_location_id=was.location_id,
                        new_fulfilment_order_id=fo.fulfilment_order_id,
                        to_location_id=fo.location_id,
                        lines=announced.lines,
                        reason=was.reason or "rejected",
                    ),
                    subject=fo.order_id,
                )


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Orchestrator:
    config: SourcingConfig
    sagas: SagaStore
    orders: OrderStore
    clock: Callable[[], datetime] = _now
    recalled: RecalledDecisions | None = None
    """A rebuild's read-back of the live decisions; unused outside a rebuild."""

    def _profile(self, order: OrderToSource) -> Profile | None:
        return self.config.profile_for(order.channel, order.delivery_method)

    async def confirmed(
        self, work: UnitOfWork, confirmed: Sequence[tuple[UnitOfWork, str]]
    ) -> None:
        """A run of confirmed orders (each with its event's unit of work) starts their sagas
        and sources them: every read and write of the run is one statement, whatever its
        length; only a backorder or an order with nothing to ask for costs more."""
        conn = work.conn
        causes: dict[str, UnitOfWork] = {}
        for event_work, order_id in confirmed:
            causes.setdefault(order_id, event_work)
        loaded = await self.orders.load_orders(conn, list(causes))
        for order_id in causes.keys() - loaded.keys():
            _log.warning("confirmed_order_unknown", order_id=order_id)
        profiles = {order_id: self._profile(order) for order_id, (order, _) in loaded.items()}
        sagas = await self.sagas.start_sagas(
            conn,
            {
                order_id: profile.profile_id if profile else NO_PROFILE
                for order_id, profile in profiles.items()
            },
        )
        now = self.clock()
        skus = sorted({ln.sku for order_id in sagas for ln in loaded[order_id][0].lines})
        stock = await self.orders.availability_of(conn, skus)
        used = await self.sagas.capacity_used(conn, self._today(now))
        recalled = await self._recalled_plans(
            work, [_decision_id(order_id, saga.attempt + 1) for order_id, saga in sagas.items()]
        )
        decisions = []
        for order_id in causes:
            if order_id not in sagas:
                continue
            order = loaded[order_id][0]
            profile = profiles[order_id]
            if profile is None:
                await self._unsourceable(causes[order_id], sagas[order_id], order)
                continue
            decisions.append(
                self._plan(
                    causes[order_id],
                    sagas[order_id],
                    order,
                    profile,
                    list(order.lines),
                    stock=stock,
                    used=used,
                    now=now,
                    recalled=recalled,
                )
            )
        await self._record(decisions)

    async def _unsourceable(self, work: UnitOfWork, saga: Saga, order: OrderToSource) -> None:
        """No profile applies (a channel or delivery method the configuration does not
        cover): the order waits, backordered, with a decision that says why."""
        rule = (
            f"no sourcing profile applies to channel {order.channel!r} and"
            f" {order.delivery_method.value}"
        )
        _log.error("no_sourcing_profile", order_id=order.order_id, channel=order.channel)
        decision_id = _decision_id(order.order_id, 1)
        explanation = SourcingExplanation(
            profile=NO_PROFILE,
            split_policy=SplitPolicy.SHIP_TOGETHER,
            candidates=(),
            chosen_rule=rule,
        )
        await self.sagas.record_decisions(
            work.conn,
            [
                Decision(
                    decision_id=decision_id,
                    order_id=order.order_id,
                    attempt=1,
                    profile_id=NO_PROFILE,
                    config_version=self.config.version,
                    explanation=explanation.model_dump_json(),
                    requested=[],
                )
            ],
        )
        # The saga just started: recording the decision changed only its attempt.
        await self.sagas.add_backordered(work.conn, saga, list(order.lines))
        await self.sagas.set_state(work.conn, order.order_id, SagaState.BACKORDERED)
        lines = _quantities(list(order.lines))
        work.emit(
            SourcingDecided(
                order_id=order.order_id,
                decision_id=decision_id,
                attempt=1,
                allocations=(),
                backordered_lines=lines,
                explanation=explanation,
                decided_at=self.clock(),
            ),
            subject=order.order_id,
        )
        work.emit(
            OrderBackordered(
                order_id=order.order_id,
                decision_id=decision_id,
                lines=lines,
                reason=BackorderReason.NO_PROFILE,
                detail=rule,
            ),
            subject=order.order_id,
        )

    async def _decide(
        self,
        work: UnitOfWork,
        saga: Saga,
        order: OrderToSource,
        profile: Profile,
        lines: list[Line],
        reroutes: str | None = None,
        promised: dict[tuple[str, str], int] | None = None,
        retrying: bool = False,
    ) -> None:
        """Source ``lines`` of one order now, with availability and capacity as they are;
        ``retrying`` waiting lines, a decision that changes nothing is not announced."""
        now = self.clock()
        stock = await self.orders.availability_of(work.conn, sorted({ln.sku for ln in lines}))
        used = await self.sagas.capacity_used(work.conn, self._today(now))
        next_id = _decision_id(order.order_id, saga.attempt + 1)
        recalled = await self._recalled_plans(work, [next_id])
        await self._record(
            [
                self._plan(
                    work,
                    saga,
                    order,
                    profile,
                    lines,
                    stock=stock,
                    used=used,
                    now=now,
                    reroutes=reroutes,
                    promised=promised,
                    retrying=retrying,
                    recalled=recalled,
                )
            ]
        )

    async def _recalled_plans(
        self, work: UnitOfWork, decision_ids: Collection[str]
    ) -> dict[str, Plan]:
        """In a rebuild, the plans the live service announced for these decisions (by id)."""
        if not work.rebuilding or self.recalled is None or not decision_ids:
            return {}
        plans = {}
        for decision_id, decided in (await self.recalled.decisions(work, decision_ids)).items():
            plan = Plan(
                backordered=[Line(q.line_id, q.sku, q.quantity) for q in decided.backordered_lines],
                explanation=decided.explanation,
            )
            for placed in decided.allocations:
                location = self.config.location(placed.location_id)
                if location is None:  # it left the network since: decided anew
                    break
                plan.allocations.append(
                    (location, [Line(q.line_id, q.sku, q.quantity) for q in placed.lines])
                )
            else:
                plans[decision_id] = plan
        return plans

    def _plan(
        self,
        work: UnitOfWork,
        saga: Saga,
        order: OrderToSource,
        profile: Profile,
        lines: list[Line],
        *,
        stock: Mapping[tuple[str, str], int],
        used: Mapping[str, int],
        now: datetime,
        reroutes: str | None = None,
        promised: dict[tuple[str, str], int] | None = None,
        retrying: bool = False,
        recalled: Mapping[str, Plan] | None = None,
    ) -> _Decided:
        """Plan where ``lines`` come from: the reservations to ask for, the lines to
        backorder. ``reroutes`` names the fulfilment order this decision replaces;
        ``promised`` counts units earlier plans took, and takes this plan's. In a rebuild,
        the plan announced live for this decision (``recalled``) is taken again when it
        places the same units and none where this order may no longer go."""
        attempt = saga.attempt + 1
        decision_id = _decision_id(order.order_id, attempt)
        if promised:
            stock = {key: max(units - promised.get(key, 0), 0) for key, units in stock.items()}
        sub_order = OrderToSource(
            order_id=order.order_id,
            channel=order.channel,
            delivery_method=order.delivery_method,
            lines=tuple(lines),
            destination=order.destination,
            pickup_store_id=order.pickup_store_id,
        )
        plan = (recalled or {}).get(decision_id)
        if plan is not None and (
            _totals([*(ln for _, placed in plan.allocations for ln in placed), *plan.backordered])
            != _totals(lines)
            or any(location.location_id in saga.avoided for location, _ in plan.allocations)
        ):
            # The rebuild went another way before this decision (docs/operations.md).
            _log.warning("recalled_plan_differs", decision_id=decision_id)
            plan = None
        if plan is None:
            plan = source(
                sub_order,
                profile,
                self.config.locations,
                stock,
                capacity_used=used,
                excluded=saga.avoided,
            )
        assert plan.explanation is not None
        if promised is not None:
            for location, alloc_lines in plan.allocations:
                for line in alloc_lines:
                    key = (location.location_id, line.sku)
                    promised[key] = promised.get(key, 0) + line.quantity
        requested = [
            (f"res-{decision_id}-{n}", location.location_id, line)
            for n, (location, line) in enumerate(
                ((loc, ln) for loc, alloc_lines in plan.allocations for ln in alloc_lines),
                start=1,
            )
        ]
        return _Decided(
            work=work,
            saga=saga,
            order=order,
            profile=profile,
            plan=plan,
            decided_at=now,
            stored=Decision(
                decision_id=decision_id,
                order_id=order.order_id,
                attempt=attempt,
                profile_id=profile.profile_id,
                config_version=self.config.version,
                explanation=plan.explanation.model_dump_json(),
                requested=requested,
                reroutes=reroutes,
            ),
            was_backordered=_quantities(lines) if retrying else None,
        )

    async def _record(self, decided: Sequence[_Decided]) -> None:
        """Store decisions (one statement for all), then ask inventory for their
        reservations and tell the world; a decision stored before changes nothing."""
        if not decided:
            return
        stored = await self.sagas.record_decisions(
            decided[0].work.conn, [d.stored for d in decided]
        )
        for d in decided:
            if d.stored.decision_id in stored:
                await self._announce(d)

    def _announce_decision(self, d: _Decided) -> None:
        plan = d.plan
        assert plan.explanation is not None
        d.work.emit(
            SourcingDecided(
                order_id=d.order.order_id,
                decision_id=d.stored.decision_id,
                attempt=d.stored.attempt,
                allocations=tuple(
                    Allocation(
                        location_id=loc.location_id,
                        location_type=loc.type,
                        lines=_quantities(alloc_lines),
                    )
                    for loc, alloc_lines in plan.allocations
                ),
                backordered_lines=_quantities(plan.backordered),
                explanation=plan.explanation,
                decided_at=d.decided_at,
            ),
            subject=d.order.order_id,
        )

    async def _announce(self, d: _Decided) -> None:
        work, order, plan, decision = d.work, d.order, d.plan, d.stored
        assert plan.explanation is not None
        # Stock came back, but not for this order: it waits as it waited, nothing to tell.
        quiet = _unchanged(d)
        if not quiet:
            self._announce_decision(d)
        if decision.requested:
            work.emit(
                ReserveStock(
                    order_id=order.order_id,
                    request_id=decision.decision_id,
                    lines=tuple(
                        ReservationLine(
                            reservation_id=rid,
                            line_id=line.line_id,
                            sku=line.sku,
                            location_id=loc,
                            quantity=line.quantity,
                        )
                        for rid, loc, line in decision.requested
                    ),
                    all_or_nothing=d.profile.split.policy is SplitPolicy.SHIP_TOGETHER,
                    hold_for_s=d.profile.hold_for_s,
                    requested_at=d.decided_at,
                ),
                subject=order.order_id,
            )
        if plan.backordered:
            await self.sagas.add_backordered(work.conn, d.saga, plan.backordered)
        if plan.backordered and not quiet:
            work.emit(
                OrderBackordered(
                    order_id=order.order_id,
                    decision_id=decision.decision_id,
                    lines=_quantities(plan.backordered),
                    reason=plan.backorder_reason or BackorderReason.OUT_OF_STOCK,
                    detail=plan.explanation.chosen_rule,
                ),
                subject=order.order_id,
            )
        if not decision.requested:
            loaded = await self.orders.load_order(work.conn, order.order_id)
            assert loaded is not None
            await self._complete(
                work, order, loaded[1], d.profile, decision.decision_id, retry=False
            )

    async def answered(
        self, work: UnitOfWork, answers: Sequence[tuple[UnitOfWork, str, bool]]
    ) -> None:
        """Inventory answered a run of reservations ((event's unit of work, reservation id,
        held)); once a decision is fully answered, release its held lines to their locations
        and source its failed ones again elsewhere.

        The sagas are locked and the answers recorded with one statement each for the run.
        An order whose answers in the run belong to two decisions (a retry's beside an
        earlier one's) takes them one at a time, as each one's effect depends on the one
        before."""
        # The sagas first, as every step locks its saga first: two instances never deadlock.
        locked = await self.sagas.lock_sagas_of(work.conn, [rid for _, rid, _ in answers])
        decisions: dict[str, set[str]] = defaultdict(set)
        for _, rid, _ in answers:
            if rid in locked:
                saga, decision_id = locked[rid]
                decisions[saga.order_id].add(decision_id)
        alone = {
            n
            for n, (_, rid, _) in enumerate(answers)
            if rid in locked and len(decisions[locked[rid][0].order_id]) == 1
        }
        if alone:
            sagas = {saga.order_id: saga for saga, _ in locked.values()}
            await self._settle(work, sagas, [answers[n] for n in sorted(alone)])
        for n, answer in enumerate(answers):
            if answer[1] in locked and n not in alone:
                await self.answered(work, [answer])

    async def lapsed(self, work: UnitOfWork, expired: Sequence[tuple[UnitOfWork, str]]) -> None:
        """Inventory let holds expire ((event's unit of work, reservation id)). Only holds
        not yet released matter: released ones wait for their work (inventory stops
        expiring them at release; one released just after it lapsed still ships, its stock
        committed as it leaves). A lapsed hold no longer holds: while its decision waits for
        other answers, settling it sources the line again like any hold inventory could not
        keep; otherwise (a later decision is under way for other lines) its line is sourced
        again now, where the rules say, or backordered."""
        locked = await self.sagas.lock_sagas_of(work.conn, [rid for _, rid in expired])
        lapsed = await self.sagas.lapse(work.conn, [rid for _, rid in expired if rid in locked])
        _log.info("holds_lapsed", lapsed=sum(len(ids) for ids, _ in lapsed.values()))
        causes = {rid: event_work for event_work, rid in expired}
        for order_id, (ids, rows) in sorted(lapsed.items()):
            waiting = {a.decision_id for a in rows if a.status is AllocationStatus.REQUESTED}
            again = [
                Line(a.line_id, a.sku, a.quantity)
                for a in rows
                if a.reservation_id in ids and a.decision_id not in waiting
            ]
            loaded = await self.orders.load_order(work.conn, order_id)
            if not again or loaded is None:
                continue
            order, _ = loaded
            profile = self._profile(order)
            if profile is not None:
                saga, _ = locked[ids[0]]
                await self._decide(causes[ids[0]], saga, order, profile, again)

    async def _settle(
        self,
        work: UnitOfWork,
        sagas: Mapping[str, Saga],
        answers: Sequence[tuple[UnitOfWork, str, bool]],
    ) -> None:
        """Record answers, each order's answers in the run for one decision of it."""
        held: dict[str, bool] = {}
        for _, rid, is_held in answers:
            held.setdefault(rid, is_held)
        answered = await self.sagas.answer(work.conn, held)
        order_of = {a.reservation_id: o for o, (_, rows) in answered.items() for a in rows}
        causes: dict[str, UnitOfWork] = {}  # an order's events name its first answer as cause
        for event_work, rid, _ in answers:
            if rid in order_of:
                causes.setdefault(order_of[rid], event_work)
        ready = {
            order_id: (decision_ids[0], rows)
            for order_id, (decision_ids, rows) in answered.items()
            if not any(
                a.decision_id == decision_ids[0] and a.status is AllocationStatus.REQUESTED
                for a in rows
            )
        }
        loaded = await self.orders.load_orders(work.conn, list(ready))
        # First every order whose decision is all held and nothing waits for stock: their
        # writes go together; then the others, whose next decisions see those writes.
        settlement = _Settlement()
        rest = []
        for order_id, (decision_id, allocations) in ready.items():
            order, address = loaded[order_id]
            profile = self._profile(order)
            assert profile is not None
            rows = [a for a in allocations if a.decision_id == decision_id]
            saga = sagas[order_id]
            if any(a.status is AllocationStatus.FAILED for a in rows) or saga.backordered:
                rest.append((order_id, decision_id, allocations))
                continue
            # Nothing wrote the saga or the allocations since they were read: no second read.
            await self._complete(
                causes[order_id],
                order,
                address,
                profile,
                decision_id,
                locked=saga,
                rows=allocations,
                settlement=settlement,
            )
        await settlement.write(self.sagas, work.conn)
        for order_id, decision_id, allocations in rest:
            cause = causes[order_id]
            order, address = loaded[order_id]
            profile = self._profile(order)
            assert profile is not None
            failed = [
                a
                for a in allocations
                if a.decision_id == decision_id and a.status is AllocationStatus.FAILED
            ]
            if failed:
                # Not back to a location that could not hold it until stock returns.
                avoiding = await self.sagas.avoid(
                    work.conn, order_id, failed=[a.location_id for a in failed]
                )
                assert avoiding is not None
                retry = [Line(a.line_id, a.sku, a.quantity) for a in failed]
                await self._decide(cause, avoiding, order, profile, retry)
                continue
            await self._complete(
                cause,
                order,
                address,
                profile,
                decision_id,
                locked=sagas[order_id],
                rows=allocations,
            )

    def _release_to_locations(
        self,
        work: UnitOfWork,
        order: OrderToSource,
        address: object,
        profile: Profile,
        rows: list[AllocationRow],
        settlement: _Settlement,
        deadlines: Mapping[str, datetime],
    ) -> None:
        """Held lines not yet released become a fulfilment order per location, due by the
        profile's time to accept (in a rebuild, by the deadline it got live, in
        ``deadlines``); the location's capacity counts it on the day it was made."""
        now = self.clock()
        within = timedelta(seconds=profile.accept_within_s)
        for location_id, location_rows in sorted(_unreleased(rows).items()):
            location = self._location(location_id)
            fulfilment_order_id = _fulfilment_order_id(location_rows[0].decision_id, location_id)
            accept_by = deadlines.get(fulfilment_order_id, now + within)
            promised = self._promise(order, location)
            lines = _quantities([Line(r.line_id, r.sku, r.quantity) for r in location_rows])
            settlement.fulfilment_orders.append(
                (
                    work,
                    NewFulfilmentOrder(
                        fulfilment_order_id=fulfilment_order_id,
                        order_id=order.order_id,
                        location_id=location_id,
                        reservation_ids=[r.reservation_id for r in location_rows],
                        accept_by=accept_by,
                        day=self._today(accept_by - within),
                        decision_id=location_rows[0].decision_id,
                        promised_by=promised,
                    ),
                    FulfilmentOrderCreated(
                        order_id=order.order_id,
                        fulfilment_order_id=fulfilment_order_id,
                        location_id=location_id,
                        location_type=location.type,
                        delivery_method=order.delivery_method,
                        lines=lines,
                        shipping_address=Address.model_validate(address) if address else None,
                        pickup_store_id=order.pickup_store_id,
                        reservation_ids=tuple(r.reservation_id for r in location_rows),
                        promised_by=promised,
                        accept_by=accept_by,
                    ),
                )
            )

    def _promise(self, order: OrderToSource, location: NetworkLocation) -> datetime | None:
        """The channel's promise, else the one this location can keep from the order's date."""
        if order.promised_by is not None or order.placed_at is None:
            return order.promised_by
        delivery = self.config.delivery
        return promised_by(
            delivery.promise,
            delivery.timezone,
            location.handling,
            order.delivery_method,
            order.placed_at,
        )

    async def _complete(
        self,
        work: UnitOfWork,
        order: OrderToSource,
        address: object,
        profile: Profile,
        decision_id: str,
        *,
        retry: bool = True,
        locked: Saga | None = None,
        rows: list[AllocationRow] | None = None,
        settlement: _Settlement | None = None,
    ) -> None:
        """Nothing waits on inventory: announce the allocation (every line held) or stay
        backordered, and release what is held to its locations.

        Stock may have come back for a backordered line while other lines were waiting (its
        wake-up found the order busy): then those lines are sourced again at once.

        A caller that holds the saga's lock passes the saga (``locked``) and the order's
        allocations (``rows``) when nothing wrote them since it read them: a read saved each.
        A caller settling a run passes its ``settlement``, which it writes; otherwise the
        writes are made here.
        """
        saga = locked or await self.sagas.lock_saga(work.conn, order.order_id)
        assert saga is not None
        if rows is None:
            rows = await self.sagas.allocations(work.conn, order.order_id)
        if any(r.status is AllocationStatus.REQUESTED for r in rows):
            return
        own = settlement is None
        settlement = settlement or _Settlement()
        deadlines = await self._recalled_deadlines(work, rows)
        if saga.backordered and retry and await self._back_in_stock(work, saga):
            self._release_to_locations(work, order, address, profile, rows, settlement, deadlines)
            await settlement.write(self.sagas, work.conn)
            await self._retry(work, saga, order, profile, {})
            return
        if saga.backordered:
            settlement.sagas.append((order.order_id, SagaState.BACKORDERED, False))
        else:
            settlement.sagas.append((order.order_id, SagaState.ALLOCATED, True))
            if not saga.allocated_announced:
                self._announce_allocated(work, order.order_id, decision_id, rows)
        self._release_to_locations(work, order, address, profile, rows, settlement, deadlines)
        if own:
            await settlement.write(self.sagas, work.conn)

    async def _recalled_deadlines(
        self, work: UnitOfWork, rows: list[AllocationRow]
    ) -> dict[str, datetime]:
        """In a rebuild, the deadlines the live service gave the fulfilment orders these
        rows would make now."""
        if not work.rebuilding or self.recalled is None:
            return {}
        ids = [
            _fulfilment_order_id(location_rows[0].decision_id, location_id)
            for location_id, location_rows in _unreleased(rows).items()
        ]
        return await self.recalled.deadlines(work, ids) if ids else {}

    async def _back_in_stock(self, work: UnitOfWork, saga: Saga) -> bool:
        stock = await self.orders.availability_of(
            work.conn, sorted({ln.sku for ln in saga.backordered})
        )
        return any(
            units > 0 and location not in saga.excluded for (location, _), units in stock.items()
        )

    def _announce_allocated(
        self, work: UnitOfWork, order_id: str, decision_id: str, rows: list[AllocationRow]
    ) -> None:
        by_location: dict[str, list[Line]] = defaultdict(list)
        for r in rows:
            if r.status is AllocationStatus.HELD:
                by_location[r.location_id].append(Line(r.line_id, r.sku, r.quantity))
        work.emit(
            OrderAllocated(
                order_id=order_id,
                decision_id=decision_id,
                allocations=tuple(
                    Allocation(
                        location_id=loc,
                        location_type=self._location(loc).type,
                        lines=_quantities(lines),
                    )
                    for loc, lines in sorted(by_location.items())
                ),
            ),
            subject=order_id,
        )

    def _today(self, now: datetime) -> date:
        """The network's business day, for daily capacity."""
        return now.astimezone(ZoneInfo(self.config.delivery.timezone)).date()

    def _location(self, location_id: str) -> NetworkLocation:
        location = self.config.location(location_id)
        assert location is not None, f"{location_id} left the network"
        return location

    async def stock_back(self, work: UnitOfWork, sku: str) -> None:
        """Stock of ``sku`` came back somewhere: source waiting orders again, oldest first.

        Each plan counts the units the plans before it took, so fifty waiting orders are not
        all sent to the same three units.
        """
        promised: dict[tuple[str, str], int] = {}
        # Each saga is locked as it is read, and only its own step writes it: no second read.
        for saga in await self.sagas.take_backordered(work.conn, sku, _RETRIES_PER_CHANGE):
            loaded = await self.orders.load_order(work.conn, saga.order_id)
            if loaded is None:
                continue
            order, _ = loaded
            profile = self._profile(order)
            if profile is not None:
                await self._retry(work, saga, order, profile, promised)

    async def _retry(
        self,
        work: UnitOfWork,
        saga: Saga,
        order: OrderToSource,
        profile: Profile,
        promised: dict[tuple[str, str], int],
    ) -> None:
        """Source the saga's backordered lines afresh (failed holds no longer avoided)."""
        lines = saga.backordered
        await self.sagas.source_again(work.conn, order.order_id)
        fresh = dataclasses.replace(saga, backordered=[], state=SagaState.SOURCING, failed_at=[])
        await self._decide(work, fresh, order, profile, lines, promised=promised, retrying=True)

    async def accepted(self, work: UnitOfWork, fulfilment_order_id: str) -> None:
        """A location took its work. Taken after its deadline passed, the work is gone
        elsewhere already: tell it again to stop."""
        found = await self.sagas.accept_fulfilment(work.conn, fulfilment_order_id)
        if found is not None and found.was in (
            FulfilmentStatus.REJECTED,
            FulfilmentStatus.CANCELED,
        ):
            self._call_off(
                work,
                found.order_id,
                fulfilment_order_id,
                found.location_id,
                found.reason or "canceled",
            )

    async def rejected(
        self, work: UnitOfWork, fulfilment_order_id: str, line_ids: list[str], reason: str
    ) -> None:
        """A location gave back (some of) its work, or let its deadline pass: release its
        holds and source those lines again, never at that location for this order."""
        taken = await self.sagas.reject_fulfilment(work.conn, fulfilment_order_id, line_ids, reason)
        if taken is None:
            return
        order_id, location_id, given_up = taken
        saga = await self.sagas.lock_saga(work.conn, order_id)
        if saga is None or saga.state is SagaState.CANCELED or not given_up:
            return
        self._release(work, order_id, [a.reservation_id for a in given_up], reason)
        saga = await self.sagas.avoid(
            work.conn, order_id, rejected=[location_id], state=SagaState.SOURCING
        )
        loaded = await self.orders.load_order(work.conn, order_id)
        assert saga is not None and loaded is not None
        order, _ = loaded
        profile = self._profile(order)
        assert profile is not None
        lines = [Line(a.line_id, a.sku, a.quantity) for a in given_up]
        await self._decide(work, saga, order, profile, lines, reroutes=fulfilment_order_id)

    async def expire_overdue(self, work: UnitOfWork, now: datetime, limit: int) -> int:
        """Fulfilment orders not accepted by their ``accept_by`` go to the next location; the
        late location is told to stop. One that cannot be moved is logged and left for the
        next sweep, without holding up the others."""
        overdue = await self.sagas.overdue_fulfilment_orders(work.conn, now, limit)
        for fulfilment_order_id, order_id, location_id in overdue:
            mark = len(work.outbox.records)
            try:
                async with self.sagas.savepoint(work.conn):  # one per fulfilment order
                    await self.rejected(work, fulfilment_order_id, [], _LATE)
                    self._call_off(work, order_id, fulfilment_order_id, location_id, _LATE)
            except Exception as exc:
                if is_infrastructure_error(exc):
                    raise
                del work.outbox.records[mark:]
                _log.error("reroute_failed", order_id=order_id, error=type(exc).__name__)
        return len(overdue)

    async def expired_as_recorded(
        self, work: UnitOfWork, fulfilment_order_id: str, reason: str
    ) -> None:
        """A rebuild only: a fulfilment order the live deadline sweep moved on (its call-off,
        read back from ``oms.sourcing`` at its place in time) is moved on again; a call-off
        for another reason came of an input the rebuild applies itself."""
        if reason == _LATE:
            await self.rejected(work, fulfilment_order_id, [], _LATE)

    def _call_off(
        self,
        work: UnitOfWork,
        order_id: str,
        fulfilment_order_id: str,
        location_id: str,
        reason: str,
    ) -> None:
        work.emit(
            FulfilmentOrderCanceled(
                order_id=order_id,
                fulfilment_order_id=fulfilment_order_id,
                location_id=location_id,
                reason=reason,
            ),
            subject=order_id,
        )

    async def canceled(self, work: UnitOfWork, order_id: str) -> None:
        """Compensate: give back every reservation and call off every fulfilment order."""
        saga = await self.sagas.lock_saga(work.conn, order_id)
        if saga is None or saga.state is SagaState.CANCELED:
            return
        released, fulfilment_orders = await self.sagas.cancel(work.conn, order_id)
        if released:
            self._release(work, order_id, released, "order canceled")
        for fo in fulfilment_orders:
            self._call_off(work, order_id, fo.fulfilment_order_id, fo.location_id, "order canceled")

    async def lines_canceled(
        self, work: UnitOfWork, order_id: str, lines: list[tuple[str, int]], reason: str
    ) -> None:
        """Some lines canceled: their backordered units are forgotten first, then whole
        reservations that fit in the canceled quantity are given back, then part of one
        more (``ReduceReservations``). A fulfilment order left with nothing is called off;
        one that keeps some of its work is told which units it no longer ships."""
        saga = await self.sagas.lock_saga(work.conn, order_id)
        if saga is None or saga.state is SagaState.CANCELED:
            return
        taken: list[tuple[AllocationRow, int]] = []
        for line_id, quantity in lines:
            dropped, saga = await self.sagas.drop_backordered(work.conn, saga, line_id, quantity)
            taken += await self.sagas.give_up_line(work.conn, order_id, line_id, quantity - dropped)
        released = [a.reservation_id for a, units in taken if units == a.quantity]
        if released:
            self._release(work, order_id, released, reason)
        kept = [(a.reservation_id, a.quantity - units) for a, units in taken if units < a.quantity]
        if kept:
            work.emit(
                ReduceReservations(
                    order_id=order_id,
                    reservations=tuple(
                        ReservationKept(reservation_id=r, keep=keep) for r, keep in kept
                    ),
                    reason=reason,
                ),
                subject=order_id,
            )
        called_off = await self.sagas.call_off_empty(work.conn, order_id)
        for fo in called_off:
            self._call_off(work, order_id, fo.fulfilment_order_id, fo.location_id, reason)
        released_work = [
            (a.fulfilment_order_id, a.location_id, Line(a.line_id, a.sku, units))
            for a, units in taken
            if a.fulfilment_order_id is not None
        ]
        ended = {fo.fulfilment_order_id for fo in called_off}
        for (fo_id, location_id), canceled in work_canceled(released_work, ended).items():
            work.emit(
                FulfilmentOrderLinesCanceled(
                    order_id=order_id,
                    fulfilment_order_id=fo_id,
                    location_id=location_id,
                    lines=_quantities(canceled),
                    reason=reason,
                ),
                subject=order_id,
            )
        # What was still asked for may have been all a decision waited for: settle it now
        # (its answer, when it comes, finds nothing to do).
        loaded = await self.orders.load_order(work.conn, order_id)
        assert loaded is not None
        order, address = loaded
        profile = self._profile(order)
        if profile is not None:
            last = _decision_id(order_id, saga.attempt)
            # The saga as last written (give_up_line and call_off_empty leave it alone); the
            # allocations changed since, so _complete reads them.
            await self._complete(work, order, address, profile, last, retry=False, locked=saga)

    def _release(self, work: UnitOfWork, order_id: str, ids: list[str], reason: str) -> None:
        work.emit(
            ReleaseReservations(order_id=order_id, reservation_ids=tuple(ids), reason=reason),
            subject=order_id,
        )


def _unreleased(rows: Sequence[AllocationRow]) -> dict[str, list[AllocationRow]]:
    """Held rows not yet in a fulfilment order, by location."""
    held: dict[str, list[AllocationRow]] = defaultdict(list)
    for row in rows:
        if row.status is AllocationStatus.HELD and row.fulfilment_order_id is None:
            held[row.location_id].append(row)
    return held
