from datetime import UTC, datetime

import pytest

from reelcloud.services.billing import ledger

AT = datetime(2025, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize("make", [ledger.issue, ledger.payment, ledger.void, ledger.refund])
def test_every_posting_sums_to_zero_with_two_entries(make):
    posting = make("ref-1", "m-1", 1549, "USD", AT)
    assert sum(e.amount for e in posting.entries) == 0
    assert len(posting.entries) == 2
    assert posting.id == f"{posting.kind}:ref-1"  # the same movement has the same id


def test_an_invoice_paid_leaves_nothing_owed_and_the_cash_with_the_processor():
    postings = [
        ledger.issue("in-1", "m-1", 1549, "USD", AT),
        ledger.payment("pay-1", "m-1", 1549, "USD", AT),
        ledger.refund("re-1", "m-1", 500, "USD", AT),
    ]
    balances: dict[str, int] = {}
    for posting in postings:
        for entry in posting.entries:
            balances[entry.account] = balances.get(entry.account, 0) + entry.amount
    assert balances == {
        "receivable:m-1": 0,
        "revenue": -1549,
        "cash:processor": 1049,
        "refunds": 500,
    }


def test_unbalanced_or_empty_postings_are_refused():
    with pytest.raises(ValueError, match="balance"):
        ledger.Posting("issue", "x", "m", "USD", AT, (ledger.Entry("a", 5), ledger.Entry("b", -4)))
    with pytest.raises(ValueError, match="non-zero"):
        ledger.Posting("issue", "x", "m", "USD", AT, (ledger.Entry("a", 0), ledger.Entry("b", 0)))
    with pytest.raises(ValueError, match="positive"):
        ledger.issue("in-1", "m-1", 0, "USD", AT)
    with pytest.raises(ValueError, match="positive"):
        ledger.payment("pay-1", "m-1", -5, "USD", AT)
