"""The billing database: subscriptions, payment methods, trials, invoices, payment attempts,
refunds, the ledger, the outbox of events and the idempotency keys of requests. The only place
that speaks SQL for them (the tables in `schema.sql` beside it).

What must never happen is refused by the database itself, not only by the code above it
(see `schema.sql`), so a replayed renewal or a race between instances fails with
DuplicateRowError instead of charging twice.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import fields
from datetime import datetime
from enum import Enum
from importlib import resources
from typing import Any

import asyncpg
import orjson

from reelcloud.services.billing.models import (
    Attempt,
    AttemptStatus,
    Changes,
    Initiator,
    Invoice,
    InvoiceKind,
    InvoiceStatus,
    PaymentMethod,
    Refund,
    RequestKey,
    Status,
    Subscription,
    Trial,
)

# The DDL, in a file of its own: read as SQL, applied as is.
SCHEMA = (resources.files(__package__) / "schema.sql").read_text()


def _columns(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in fields(cls))


def _upsert(table: str, columns: tuple[str, ...]) -> str:
    names = ", ".join(columns)
    params = ", ".join(f"${i}" for i in range(1, len(columns) + 1))
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in columns[1:])
    return (
        f"INSERT INTO {table} ({names}) VALUES ({params}) ON CONFLICT (id) DO UPDATE SET {updates}"
    )


def _insert(table: str, columns: tuple[str, ...], conflict: str = "") -> str:
    names = ", ".join(columns)
    params = ", ".join(f"${i}" for i in range(1, len(columns) + 1))
    return f"INSERT INTO {table} ({names}) VALUES ({params}) {conflict}".rstrip()


_FIELDS: dict[type, tuple[str, ...]] = {
    cls: _columns(cls) for cls in (Subscription, Invoice, Attempt, Refund, PaymentMethod, Trial,
                                   RequestKey)
}  # fmt: skip
SUBSCRIPTION = _columns(Subscription)
INVOICE = _columns(Invoice)
ATTEMPT = _columns(Attempt)
REFUND = _columns(Refund)
PAYMENT_METHOD = _columns(PaymentMethod)
UPSERT_SUBSCRIPTION = _upsert("subscriptions", SUBSCRIPTION)
UPSERT_INVOICE = _upsert("invoices", INVOICE)
UPSERT_ATTEMPT = _upsert("attempts", ATTEMPT)
UPSERT_REFUND = _upsert("refunds", REFUND)
INSERT_PAYMENT_METHOD = _insert("payment_methods", PAYMENT_METHOD, "ON CONFLICT (id) DO NOTHING")


def _subscription(row: Any) -> Subscription:
    values = dict(row)
    values["status"] = Status(values["status"])
    return Subscription(**values)


def _invoice(row: Any) -> Invoice:
    values = {c: row[c] for c in INVOICE}
    values["kind"] = InvoiceKind(values["kind"])
    values["status"] = InvoiceStatus(values["status"])
    return Invoice(**values)


def _attempt(row: Any) -> Attempt:
    values = {c: row[c] for c in ATTEMPT}
    values["initiator"] = Initiator(values["initiator"])
    values["status"] = AttemptStatus(values["status"])
    return Attempt(**values)


def _refund(row: Any) -> Refund:
    return Refund(**{c: row[c] for c in REFUND})


def _row(value: Any) -> tuple[Any, ...]:
    """A dataclass as the positional values of its columns, enums as their text. Shallow:
    `dataclasses.astuple` deep-copies every value, and took most of a renewal run's time."""
    return tuple(
        v.value if isinstance(v, Enum) else v
        for v in (getattr(value, name) for name in _FIELDS[type(value)])
    )


class DuplicateRowError(Exception):
    """A write the database refused as a duplicate: `constraint` says which rule it broke
    (the service turns it into the request error it means)."""

    def __init__(self, constraint: str) -> None:
        super().__init__(f"duplicate row refused by {constraint}")
        self.constraint = constraint


class BillingTransaction:
    """Reads that lock, and the writes of one step, on one connection in one transaction."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def subscription(self, member_id: str) -> Subscription | None:
        row = await self.conn.fetchrow(
            "SELECT * FROM subscriptions WHERE member_id = $1 FOR UPDATE", member_id
        )
        return None if row is None else _subscription(row)

    async def subscriptions(self, ids: Sequence[str]) -> list[Subscription]:
        rows = await self.conn.fetch(
            "SELECT * FROM subscriptions WHERE id = ANY($1::text[]) ORDER BY id FOR UPDATE",
            list(ids),
        )
        return [_subscription(r) for r in rows]

    async def claim_due(self, ids: Sequence[str], until: datetime) -> list[Subscription]:
        """Those of `ids` still due by `until` that no one else holds (another instance's
        run skips them instead of waiting)."""
        rows = await self.conn.fetch(
            "SELECT * FROM subscriptions WHERE id = ANY($1::text[]) AND next_action_at <= $2 "
            "ORDER BY id FOR UPDATE SKIP LOCKED",
            list(ids),
            until,
        )
        return [_subscription(r) for r in rows]

    async def invoices(self, ids: Sequence[str]) -> dict[str, Invoice]:
        rows = await self.conn.fetch("SELECT * FROM invoices WHERE id = ANY($1::text[])", list(ids))
        return {r["id"]: _invoice(r) for r in rows}

    async def open_invoices(self, subscription_id: str) -> list[Invoice]:
        rows = await self.conn.fetch(
            "SELECT * FROM invoices WHERE subscription_id = $1 AND status = 'open'",
            subscription_id,
        )
        return [_invoice(r) for r in rows]

    async def attempts(self, ids: Sequence[str]) -> dict[str, Attempt]:
        rows = await self.conn.fetch("SELECT * FROM attempts WHERE id = ANY($1::text[])", list(ids))
        return {r["id"]: _attempt(r) for r in rows}

    async def attempts_on(self, invoice_ids: Sequence[str]) -> dict[str, list[Attempt]]:
        """Each invoice's attempts, oldest first."""
        rows = await self.conn.fetch(
            "SELECT * FROM attempts WHERE invoice_id = ANY($1::text[]) ORDER BY created_at, id",
            list(invoice_ids),
        )
        found: dict[str, list[Attempt]] = {i: [] for i in invoice_ids}
        for row in rows:
            found[row["invoice_id"]].append(_attempt(row))
        return found

    async def unresolved(self, subscription_id: str) -> list[Attempt]:
        rows = await self.conn.fetch(
            "SELECT * FROM attempts WHERE subscription_id = $1 "
            "AND status IN ('pending', 'requires_action')",
            subscription_id,
        )
        return [_attempt(r) for r in rows]

    async def second_steps_before(self, before: datetime, limit: int) -> list[Attempt]:
        """Charges still waiting for a second step asked for before `before`."""
        rows = await self.conn.fetch(
            "SELECT * FROM attempts WHERE status = 'requires_action' AND created_at <= $1 "
            "ORDER BY created_at LIMIT $2",
            before,
            limit,
        )
        return [_attempt(r) for r in rows]

    async def refund(self, refund_id: str) -> Refund | None:
        row = await self.conn.fetchrow("SELECT * FROM refunds WHERE id = $1 FOR UPDATE", refund_id)
        return None if row is None else _refund(row)

    async def pending_refund(self, invoice_id: str) -> Refund | None:
        row = await self.conn.fetchrow(
            "SELECT * FROM refunds WHERE invoice_id = $1 AND status = 'pending'", invoice_id
        )
        return None if row is None else _refund(row)

    async def request_key(self, member_id: str, key: str) -> RequestKey | None:
        row = await self.conn.fetchrow(
            "SELECT * FROM request_keys WHERE member_id = $1 AND key = $2 FOR UPDATE",
            member_id,
            key,
        )
        return None if row is None else RequestKey(**dict(row))

    async def trial_taken(self, email: str, fingerprint: str) -> bool:
        return bool(
            await self.conn.fetchval(
                "SELECT EXISTS (SELECT 1 FROM trials WHERE (kind = 'email' AND value = $1) "
                "OR (kind = 'fingerprint' AND value = $2))",
                email,
                fingerprint,
            )
        )

    async def apply(self, changes: Changes) -> None:
        """Every write of `changes`; DuplicateRowError when a unique rule refuses one (the
        transaction is then spoilt: it must be left, rolling back everything)."""
        try:
            await self._apply(changes)
        except asyncpg.UniqueViolationError as exc:
            raise DuplicateRowError(exc.constraint_name or "unknown") from exc

    async def _apply(self, changes: Changes) -> None:
        conn = self.conn
        if changes.payment_methods:
            await conn.executemany(
                INSERT_PAYMENT_METHOD, [_row(m) for m in changes.payment_methods]
            )
        if changes.subscriptions:
            await conn.executemany(UPSERT_SUBSCRIPTION, [_row(s) for s in changes.subscriptions])
        if changes.trials:
            await conn.executemany(
                "INSERT INTO trials (kind, value, member_id, at) VALUES ($1, $2, $3, $4)",
                [_row(t) for t in changes.trials],
            )
        if changes.invoices:
            await conn.executemany(UPSERT_INVOICE, [_row(i) for i in changes.invoices])
        if changes.attempts:
            await conn.executemany(UPSERT_ATTEMPT, [_row(a) for a in changes.attempts])
        if changes.refunds:
            await conn.executemany(UPSERT_REFUND, [_row(r) for r in changes.refunds])
        if changes.postings:
            await conn.executemany(
                "INSERT INTO ledger_postings (id, kind, ref, member_id, currency, at) "
                "VALUES ($1, $2, $3, $4, $5, $6)",
                [(p.id, p.kind, p.ref, p.member_id, p.currency, p.at) for p in changes.postings],
            )
            await conn.executemany(
                "INSERT INTO ledger_entries (posting_id, account, amount) VALUES ($1, $2, $3)",
                [(p.id, e.account, e.amount) for p in changes.postings for e in p.entries],
            )
        if changes.events:
            await conn.executemany(
                "INSERT INTO outbox (type, payload) VALUES ($1, $2::jsonb)",
                [(e.event_type, orjson.dumps(e.model_dump(mode="json")).decode())
                 for e in changes.events],
            )  # fmt: skip
        if changes.request_keys:
            await conn.executemany(
                "INSERT INTO request_keys (member_id, key, operation, body_hash, attempt_id, "
                "created_at) VALUES ($1, $2, $3, $4, $5, $6)",
                [_row(k) for k in changes.request_keys],
            )


class BillingStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[BillingTransaction]:
        async with self.pool.acquire() as conn, conn.transaction():
            yield BillingTransaction(conn)

    async def subscription(self, member_id: str) -> Subscription | None:
        row = await self.pool.fetchrow(
            "SELECT * FROM subscriptions WHERE member_id = $1", member_id
        )
        return None if row is None else _subscription(row)

    async def payment_method(self, method_id: str) -> PaymentMethod | None:
        row = await self.pool.fetchrow("SELECT * FROM payment_methods WHERE id = $1", method_id)
        return None if row is None else PaymentMethod(**dict(row))

    async def attempt(self, attempt_id: str) -> Attempt | None:
        row = await self.pool.fetchrow("SELECT * FROM attempts WHERE id = $1", attempt_id)
        return None if row is None else _attempt(row)

    async def invoice(self, invoice_id: str) -> Invoice | None:
        row = await self.pool.fetchrow("SELECT * FROM invoices WHERE id = $1", invoice_id)
        return None if row is None else _invoice(row)

    async def refund_by_key(self, key: str) -> Refund | None:
        row = await self.pool.fetchrow("SELECT * FROM refunds WHERE idempotency_key = $1", key)
        return None if row is None else _refund(row)

    async def invoices_of(self, member_id: str) -> list[tuple[Invoice, int]]:
        """The member's invoices, newest first, each with how many charges were tried."""
        rows = await self.pool.fetch(
            "SELECT i.*, (SELECT count(*) FROM attempts a WHERE a.invoice_id = i.id) AS tries "
            "FROM invoices i WHERE i.member_id = $1 ORDER BY i.issued_at DESC, i.id DESC",
            member_id,
        )
        return [(_invoice(r), int(r["tries"])) for r in rows]

    async def trial_taken_by_email(self, email: str) -> bool:
        return bool(
            await self.pool.fetchval(
                "SELECT EXISTS (SELECT 1 FROM trials WHERE kind = 'email' AND value = $1)", email
            )
        )

    async def request_key(self, member_id: str, key: str) -> RequestKey | None:
        row = await self.pool.fetchrow(
            "SELECT * FROM request_keys WHERE member_id = $1 AND key = $2", member_id, key
        )
        return None if row is None else RequestKey(**dict(row))

    async def due(self, until: datetime, limit: int, skip: Sequence[str] = ()) -> list[str]:
        """Subscriptions with something due by `until`, the earliest first."""
        rows = await self.pool.fetch(
            "SELECT id FROM subscriptions WHERE next_action_at <= $1 AND NOT id = ANY($3::text[]) "
            "ORDER BY next_action_at LIMIT $2",
            until,
            limit,
            list(skip),
        )
        return [r["id"] for r in rows]

    async def pending_attempts(self, skip: Sequence[str], limit: int) -> list[Attempt]:
        """Charges whose outcome was never heard (not those this process is waiting for)."""
        rows = await self.pool.fetch(
            "SELECT * FROM attempts WHERE status = 'pending' AND NOT id = ANY($1::text[]) "
            "ORDER BY created_at LIMIT $2",
            list(skip),
            limit,
        )
        return [_attempt(r) for r in rows]

    async def pending_refunds(self, skip: Sequence[str], limit: int) -> list[Refund]:
        rows = await self.pool.fetch(
            "SELECT * FROM refunds WHERE status = 'pending' AND NOT id = ANY($1::text[]) "
            "ORDER BY created_at LIMIT $2",
            list(skip),
            limit,
        )
        return [_refund(r) for r in rows]

    async def balances(self, member_id: str = "") -> list[tuple[str, str, int]]:
        """(account, currency, balance) from the ledger alone; one member's accounts, or all."""
        rows = await self.pool.fetch(
            "SELECT e.account, p.currency, sum(e.amount)::bigint AS balance "
            "FROM ledger_entries e JOIN ledger_postings p ON p.id = e.posting_id "
            "WHERE $1 = '' OR e.account = 'receivable:' || $1 "
            "GROUP BY e.account, p.currency ORDER BY e.account, p.currency",
            member_id,
        )
        return [(r["account"], r["currency"], int(r["balance"])) for r in rows]

    async def receivable(self, member_id: str) -> int:
        value = await self.pool.fetchval(
            "SELECT coalesce(sum(amount), 0)::bigint FROM ledger_entries WHERE account = $1",
            f"receivable:{member_id}",
        )
        return int(value)

    # ---- the outbox -------------------------------------------------------------------------

    async def unpublished(self, limit: int) -> list[tuple[int, str, dict[str, Any]]]:
        rows = await self.pool.fetch(
            "SELECT id, type, payload::text AS payload FROM outbox WHERE published_at IS NULL "
            "ORDER BY id LIMIT $1",
            limit,
        )
        return [(r["id"], r["type"], orjson.loads(r["payload"])) for r in rows]

    async def mark_published(self, ids: Sequence[int]) -> None:
        await self.pool.execute(
            "UPDATE outbox SET published_at = now() WHERE id = ANY($1::bigint[])", list(ids)
        )
