"""Rate shopping: a policy picks one quote per parcel and says why every other one lost.

Every policy works the same way on the quotes a parcel got:

1. a service that makes no offer loses with its reason (``no_zone``, ``overweight``);
2. when some offers arrive by the promised date, the others lose ``misses_promise`` (when
   none does, all stay in and the parcel is flagged: the promise cannot be kept);
3. ``best_score_within_budget``: when some offers are within the budget, the others lose
   ``over_budget`` (when none is, all stay in);
4. the rest are ranked by the policy's order (cheapest: cost, then date, then score;
   fastest: date, then cost, then score; best score: score, then cost, then date); each
   loses on the first of these where the winner is better (``more_expensive``, ``slower``,
   ``lower_score``), or ``ranked_lower`` when it offers the same (the file's order decides).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date

from oms_shipping.domain.dispatch import PolicyConfig, PolicyKind
from oms_shipping.domain.rating import Quote

__all__ = ["Alternative", "CarrierChoice", "choose"]


@dataclass(frozen=True)
class Alternative:
    quote: Quote
    lost_because: str


@dataclass(frozen=True)
class CarrierChoice:
    chosen: Quote
    alternatives: tuple[Alternative, ...]
    meets_promise: bool | None
    """None when nothing was promised."""


_Criterion = tuple[str, Callable[[Quote], float]]
_COST: _Criterion = ("more_expensive", lambda q: q.cost_minor or 0)
_DATE: _Criterion = ("slower", lambda q: (q.estimated_delivery or date.max).toordinal())
_SCORE: _Criterion = ("lower_score", lambda q: -q.reliability)
_RANKING = {
    PolicyKind.CHEAPEST_MEETING_PROMISE: (_COST, _DATE, _SCORE),
    PolicyKind.FASTEST: (_DATE, _COST, _SCORE),
    PolicyKind.BEST_SCORE_WITHIN_BUDGET: (_SCORE, _COST, _DATE),
}


def _meets(quote: Quote, promised: date | None) -> bool:
    return promised is None or (quote.estimated_delivery or date.max) <= promised


def _keep(
    offers: list[Quote], keep: Callable[[Quote], bool], reason: str, lost: list[Alternative]
) -> list[Quote]:
    """The offers that pass ``keep``, the others lost for ``reason``; all of them when none
    passes (a filter never leaves a parcel without a carrier)."""
    passing = [q for q in offers if keep(q)]
    if not passing:
        return offers
    lost.extend(Alternative(q, reason) for q in offers if not keep(q))
    return passing


def _why_lost(winner: Quote, loser: Quote, ranking: tuple[_Criterion, ...]) -> str:
    for reason, key in ranking:
        if key(loser) != key(winner):
            return reason
    return "ranked_lower"


def choose(
    quotes: Sequence[Quote], policy: PolicyConfig, promised: date | None
) -> CarrierChoice | None:
    """The policy's pick among ``quotes`` with every other one and why it lost; None when no
    service makes an offer."""
    lost = [Alternative(q, q.unavailable) for q in quotes if q.unavailable]
    offers = [q for q in quotes if not q.unavailable]
    if not offers:
        return None
    offers = _keep(offers, lambda q: _meets(q, promised), "misses_promise", lost)
    if policy.budget_minor is not None:
        budget = policy.budget_minor
        offers = _keep(offers, lambda q: (q.cost_minor or 0) <= budget, "over_budget", lost)
    ranking = _RANKING[policy.choose]
    ranked = sorted(offers, key=lambda q: tuple(key(q) for _, key in ranking))
    winner = ranked[0]
    lost.extend(Alternative(q, _why_lost(winner, q, ranking)) for q in ranked[1:])
    return CarrierChoice(
        chosen=winner,
        alternatives=tuple(lost),
        meets_promise=None if promised is None else _meets(winner, promised),
    )
