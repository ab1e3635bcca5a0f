"""The processor's own records, in a SQLite file of its own (it is outside the platform: it
shares no database with billing). The only place that speaks SQL for them.

Each call is one short transaction run on the event loop's thread (a fraction of a
millisecond, no fsync per commit in WAL mode with synchronous=NORMAL, still durable across a
crash of the process). A charge's idempotency key is unique in the table itself, so even two
processes on one file could never make two charges for one key.
"""

from __future__ import annotations

import secrets
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson

from reelcloud.services.payments.models import Charge, PaymentMethod, Refund

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS payment_methods (
    id TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    behaviour TEXT NOT NULL,
    brand TEXT NOT NULL,
    last4 TEXT NOT NULL,
    exp_month INTEGER NOT NULL,
    exp_year INTEGER NOT NULL,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS charges (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    idempotency_key TEXT NOT NULL UNIQUE,
    request_hash TEXT NOT NULL,
    payment_method TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    amount INTEGER NOT NULL,
    currency TEXT NOT NULL,
    status TEXT NOT NULL,
    decline_code TEXT NOT NULL,
    off_session INTEGER NOT NULL,
    metadata TEXT NOT NULL,
    refunded INTEGER NOT NULL DEFAULT 0,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS refunds (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    idempotency_key TEXT NOT NULL UNIQUE,
    request_hash TEXT NOT NULL,
    charge TEXT NOT NULL,
    amount INTEGER NOT NULL,
    currency TEXT NOT NULL,
    created REAL NOT NULL
);
-- Keys whose first request was answered 500 before anything was charged (the error card).
CREATE TABLE IF NOT EXISTS failed_keys (idempotency_key TEXT PRIMARY KEY);
"""


class KeyTakenError(Exception):
    """Another request made a record with this idempotency key first."""


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


def _charge(row: sqlite3.Row) -> Charge:
    return Charge(
        id=row["id"],
        idempotency_key=row["idempotency_key"],
        payment_method=row["payment_method"],
        fingerprint=row["fingerprint"],
        amount=row["amount"],
        currency=row["currency"],
        status=row["status"],
        decline_code=row["decline_code"],
        off_session=bool(row["off_session"]),
        metadata=orjson.loads(row["metadata"]),
        refunded=row["refunded"],
        created=row["created"],
        seq=row["seq"],
    )


def _refund(row: sqlite3.Row) -> Refund:
    return Refund(
        id=row["id"],
        idempotency_key=row["idempotency_key"],
        charge=row["charge"],
        amount=row["amount"],
        currency=row["currency"],
        status="succeeded",
        created=row["created"],
        seq=row["seq"],
    )


class ProcessorStore:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA busy_timeout=5000")
        self._db.executescript(SCHEMA)

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def fingerprint_salt(self) -> str:
        """A random salt made once per store: fingerprints are stable, yet say nothing of the
        number to anyone without this file."""
        with self._transaction() as db:
            row = db.execute("SELECT value FROM meta WHERE key = 'fingerprint_salt'").fetchone()
            if row is not None:
                return str(row["value"])
            salt = secrets.token_hex(32)
            db.execute("INSERT INTO meta (key, value) VALUES ('fingerprint_salt', ?)", (salt,))
            return salt

    # ---- payment methods --------------------------------------------------------------------

    def add_payment_method(self, method: PaymentMethod, behaviour: str, now: float) -> None:
        with self._transaction() as db:
            db.execute(
                "INSERT INTO payment_methods (id, fingerprint, behaviour, brand, last4, "
                "exp_month, exp_year, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    method.id,
                    method.fingerprint,
                    behaviour,
                    method.brand,
                    method.last4,
                    method.exp_month,
                    method.exp_year,
                    now,
                ),
            )

    def payment_method(self, method_id: str) -> tuple[PaymentMethod, str] | None:
        """The method and its test behaviour."""
        row = self._db.execute(
            "SELECT * FROM payment_methods WHERE id = ?", (method_id,)
        ).fetchone()
        if row is None:
            return None
        method = PaymentMethod(
            id=row["id"],
            fingerprint=row["fingerprint"],
            brand=row["brand"],
            last4=row["last4"],
            exp_month=row["exp_month"],
            exp_year=row["exp_year"],
        )
        return method, str(row["behaviour"])

    # ---- charges ----------------------------------------------------------------------------

    def charge_by_key(self, key: str) -> tuple[Charge, str] | None:
        """The charge made for this key and the hash of the request that made it."""
        row = self._db.execute("SELECT * FROM charges WHERE idempotency_key = ?", (key,)).fetchone()
        return None if row is None else (_charge(row), str(row["request_hash"]))

    def charge(self, charge_id: str) -> Charge | None:
        row = self._db.execute("SELECT * FROM charges WHERE id = ?", (charge_id,)).fetchone()
        return None if row is None else _charge(row)

    def add_charge(self, values: dict[str, Any]) -> Charge:
        """KeyTakenError when a charge with this idempotency key exists already."""
        try:
            with self._transaction() as db:
                db.execute(
                    "INSERT INTO charges (id, idempotency_key, request_hash, payment_method, "
                    "fingerprint, amount, currency, status, decline_code, off_session, metadata, "
                    "created) VALUES (:id, :idempotency_key, :request_hash, :payment_method, "
                    ":fingerprint, :amount, :currency, :status, :decline_code, :off_session, "
                    ":metadata, :created)",
                    {**values, "metadata": orjson.dumps(values["metadata"]).decode()},
                )
        except sqlite3.IntegrityError as exc:
            raise KeyTakenError(values["idempotency_key"]) from exc
        found = self.charge(values["id"])
        assert found is not None
        return found

    def set_status(self, charge_id: str, status: str, decline_code: str = "") -> Charge | None:
        with self._transaction() as db:
            db.execute(
                "UPDATE charges SET status = ?, decline_code = ? WHERE id = ?",
                (status, decline_code, charge_id),
            )
        return self.charge(charge_id)

    def first_failure(self, key: str) -> bool:
        """True the first time a key is seen here (its request is then failed), False after."""
        with self._transaction() as db:
            cursor = db.execute(
                "INSERT OR IGNORE INTO failed_keys (idempotency_key) VALUES (?)", (key,)
            )
            return cursor.rowcount == 1

    def charges(self, after: int, limit: int) -> list[Charge]:
        rows = self._db.execute(
            "SELECT * FROM charges WHERE seq > ? ORDER BY seq LIMIT ?", (after, limit)
        ).fetchall()
        return [_charge(r) for r in rows]

    # ---- refunds ----------------------------------------------------------------------------

    def refund_by_key(self, key: str) -> tuple[Refund, str] | None:
        row = self._db.execute("SELECT * FROM refunds WHERE idempotency_key = ?", (key,)).fetchone()
        return None if row is None else (_refund(row), str(row["request_hash"]))

    def add_refund(self, values: dict[str, Any], most: int) -> Refund | None:
        """The refund, with the charge's refunded total raised, in one transaction; None when
        the charge has less than `values['amount']` left to refund of `most`. KeyTakenError
        when a refund with this idempotency key exists already."""
        try:
            with self._transaction() as db:
                cursor = db.execute(
                    "UPDATE charges SET refunded = refunded + ? WHERE id = ? AND refunded + ? <= ?",
                    (values["amount"], values["charge"], values["amount"], most),
                )
                if cursor.rowcount != 1:
                    return None
                db.execute(
                    "INSERT INTO refunds (id, idempotency_key, request_hash, charge, amount, "
                    "currency, created) VALUES (:id, :idempotency_key, :request_hash, :charge, "
                    ":amount, :currency, :created)",
                    values,
                )
        except sqlite3.IntegrityError as exc:
            raise KeyTakenError(values["idempotency_key"]) from exc
        found = self.refund_by_key(values["idempotency_key"])
        assert found is not None
        return found[0]

    def refunds(self, after: int, limit: int) -> list[Refund]:
        rows = self._db.execute(
            "SELECT * FROM refunds WHERE seq > ? ORDER BY seq LIMIT ?", (after, limit)
        ).fetchall()
        return [_refund(r) for r in rows]
