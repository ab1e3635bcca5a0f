"""The double-entry ledger: every movement of money is one posting of entries that sum to zero
in its currency, and every balance is a sum of entries (debits positive, credits negative).

    accounts                 what it holds
    receivable:<member>      what the member owes (debit: an invoice issued; credit: paid, voided)
    revenue                  what members were billed (credit), less voided invoices (debit)
    cash:processor           money the processor collected for us (debit), less refunds (credit)
    refunds                  money given back (debit): revenue's contra account

    posting      entries
    issue        receivable:<member> +amount   revenue -amount
    payment      cash:processor +amount        receivable:<member> -amount
    void         revenue +amount               receivable:<member> -amount
    refund       refunds +amount               cash:processor -amount

A posting's id is its kind and what it is for (`payment:<attempt>`), so the same movement can
never be posted twice; the database refuses an unbalanced posting at commit and any change to
an entry once written (`store.py`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

CASH = "cash:processor"
REVENUE = "revenue"
REFUNDS = "refunds"


def receivable(member_id: str) -> str:
    return f"receivable:{member_id}"


@dataclass(frozen=True, slots=True)
class Entry:
    account: str
    amount: int  # minor units; debit positive, credit negative


@dataclass(frozen=True, slots=True)
class Posting:
    kind: str  # issue | payment | void | refund
    ref: str  # the invoice, attempt or refund it is for
    member_id: str
    currency: str
    at: datetime
    entries: tuple[Entry, ...]

    def __post_init__(self) -> None:
        if len(self.entries) < 2 or any(e.amount == 0 for e in self.entries):
            raise ValueError(f"posting {self.id}: at least two non-zero entries")
        if sum(e.amount for e in self.entries) != 0:
            raise ValueError(f"posting {self.id} does not balance")

    @property
    def id(self) -> str:
        return f"{self.kind}:{self.ref}"


def _two(
    kind: str, ref: str, member_id: str, currency: str, at: datetime, debit: str, credit: str,
    amount: int,
) -> Posting:  # fmt: skip
    if amount <= 0:
        raise ValueError(f"{kind} {ref}: amount must be positive, not {amount}")
    return Posting(
        kind, ref, member_id, currency, at, (Entry(debit, amount), Entry(credit, -amount))
    )


def issue(invoice_id: str, member_id: str, amount: int, currency: str, at: datetime) -> Posting:
    return _two(
        "issue", invoice_id, member_id, currency, at, receivable(member_id), REVENUE, amount
    )


def payment(attempt_id: str, member_id: str, amount: int, currency: str, at: datetime) -> Posting:
    return _two("payment", attempt_id, member_id, currency, at, CASH, receivable(member_id), amount)


def void(invoice_id: str, member_id: str, amount: int, currency: str, at: datetime) -> Posting:
    return _two("void", invoice_id, member_id, currency, at, REVENUE, receivable(member_id), amount)


def refund(refund_id: str, member_id: str, amount: int, currency: str, at: datetime) -> Posting:
    return _two("refund", refund_id, member_id, currency, at, REFUNDS, CASH, amount)
