"""Whether an order's money adds up, and if not, why.

Every rule is a function of the ledger as it stands, so the exceptions are the same whatever
the order the events were read in, and one goes away when the event that was missing comes.
Rules that hold only once nothing more is to happen (``authorisation_left_open``,
``canceled_but_not_refunded``) wait for the order to be closed, so work in progress is not
flagged; the others can never be right later and are flagged at once.
Amounts are in minor units of the currency named.
"""

from __future__ import annotations

from dataclasses import dataclass

from oms_analytics.domain.ledger import Closure, Flow, FundsLedger

__all__ = ["FundsException", "exceptions"]


@dataclass(frozen=True)
class FundsException:
    code: str
    why: str

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code, "why": self.why}


def exceptions(ledger: FundsLedger) -> list[FundsException]:
    """What does not add up in ``ledger``, in a fixed order (by rule, then currency)."""
    totals = ledger.totals()
    currencies = sorted({c for amounts in totals.values() for c in amounts})
    found: list[FundsException] = []
    every = set(currencies) | ({ledger.grand_total[0]} if ledger.grand_total else set())
    if len(every) > 1:
        found.append(
            FundsException(
                "mixed_currencies",
                "the order and its money are in several currencies: " + ", ".join(sorted(every)),
            )
        )
    for currency in currencies:
        found.extend(_per_currency(ledger, totals, currency))
    return found


def _per_currency(
    ledger: FundsLedger, totals: dict[Flow, dict[str, int]], currency: str
) -> list[FundsException]:
    authorised, captured, voided, refunded = (totals[flow].get(currency, 0) for flow in Flow)
    found: list[FundsException] = []
    if captured > authorised:
        found.append(
            FundsException(
                "capture_exceeds_authorisation",
                f"captured {captured} {currency}, more than the {authorised} authorised",
            )
        )
    elif captured + voided > authorised:
        found.append(
            FundsException(
                "captured_and_voided_exceed_authorisation",
                f"captured {captured} and voided {voided} {currency}, "
                f"more than the {authorised} authorised",
            )
        )
    if refunded > captured:
        found.append(
            FundsException(
                "refund_exceeds_capture",
                f"refunded {refunded} {currency}, more than the {captured} captured",
            )
        )
    for flow, name in ((Flow.CAPTURED, "captured_total"), (Flow.REFUNDED, "refunded_total")):
        stated = _latest_running_total(ledger, flow, currency)
        seen = totals[flow].get(currency, 0)
        if stated is not None and stated != seen:
            found.append(
                FundsException(
                    "running_total_mismatch",
                    f"an event's {name} is {stated} {currency} but the {flow} events read "
                    f"add up to {seen}: one is missing or counted twice upstream",
                )
            )
    left_open = authorised - captured - voided
    if ledger.closure is not None and left_open > 0:
        found.append(
            FundsException(
                "authorisation_left_open",
                f"the order is {ledger.closure} but {left_open} {currency} of the authorisation "
                "was neither captured nor voided",
            )
        )
    if ledger.closure is Closure.CANCELED and captured > 0 and refunded < captured:
        found.append(
            FundsException(
                "canceled_but_not_refunded",
                f"the order was canceled after capturing {captured} {currency} "
                f"but only {refunded} was refunded",
            )
        )
    return found


def _latest_running_total(ledger: FundsLedger, flow: Flow, currency: str) -> int | None:
    """The highest running total an event of ``flow`` stated: running totals only grow, so
    it is the latest one's."""
    stated = [
        m.running_total_minor
        for m in ledger.movements.values()
        if m.flow is flow and m.currency == currency and m.running_total_minor is not None
    ]
    return max(stated) if stated else None
