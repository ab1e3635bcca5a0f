"""Billing: subscriptions and their periods, invoices, payment attempts, refunds and a
double-entry ledger, in a PostgreSQL database of its own.

The sign-up API drives a member's lifecycle over gRPC (StartSubscription, ChangePlan, Cancel,
Rejoin, UpdatePaymentMethod, ConfirmPayment, ListInvoices, Refund); renewals run on a schedule
(`renewals.py`), with dunning on a failed charge; charges go to the card processor (the
`payments` process, outside the platform) over HTTP through a resilience command, each with an
idempotency key, and those whose outcome was never heard are reconciled (`collection.py`).
Events (`subscription.*`, `payment.*`, `member.on_hold`, `member.reactivated`) leave through
an outbox in the same transactions as the changes they announce (`outbox.py`).
`lifecycle.py` holds the rules as pure functions, `ledger.py` the postings, `store.py` the
SQL, `service.py` the requests, `api.py` only translates.
"""
