"""The real engines billing's integration tests run against (no tests of its own): PostgreSQL
with billing's role, the payments processor as its own `reelcloud run payments` process, and
billing itself — in the test's loop behind its gRPC port, or wired by hand around a fake clock
for simulations — plus the checks every money test ends with."""

from __future__ import annotations

import asyncio
import secrets
import sys
from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import grpc
import yaml
from tests.support.factories import free_port, registry_credential, topology_dict
from tests.support.waiting import wait_for

from reelcloud.launcher.engines.postgres import PostgresEngine
from reelcloud.launcher.process import ManagedProcess, ProcessSpec
from reelcloud.platform.credentials import ADMIN_USER, basic_authorization
from reelcloud.platform.database import open_database
from reelcloud.platform.resilience import CommandRunner
from reelcloud.platform.rpc.context import ERROR_CODE_KEY
from reelcloud.platform.settings import Settings
from reelcloud.platform.testing import FakeClock
from reelcloud.rpc import billing_pb2_grpc
from reelcloud.services.billing.api import build_service
from reelcloud.services.billing.models import Card
from reelcloud.services.billing.processor import ProcessorClient
from reelcloud.services.billing.service import BillingService
from reelcloud.services.billing.settings import BillingSettings
from reelcloud.services.billing.store import SCHEMA, BillingStore
from reelcloud.services.payments.cards import Behaviour, card_number

ROLE = "reelcloud_billing"
ADMIN_PASSWORD = "test-admin-password-0123456789"
ROOT = Path(__file__).resolve().parents[2]


def card(behaviour: Behaviour = Behaviour.APPROVE, serial: int | None = None) -> Card:
    """A test card; each serial is another card (another fingerprint)."""
    serial = secrets.randbelow(10**7) if serial is None else serial
    return Card(card_number(behaviour, serial), 12, 2099, "123")


def member_id() -> str:
    return f"m-{secrets.token_hex(6)}"


class Postgres:
    def __init__(self, root: Path) -> None:
        self.engine = PostgresEngine(root / "pg", root / "pg.log")
        self.password = secrets.token_hex(16)
        self.process: ManagedProcess | None = None

    async def start(self) -> None:
        spec = await asyncio.to_thread(self.engine.prepare)
        self.process = ManagedProcess(spec, restart=False)
        self.process.start()
        await wait_for(self.engine.ready, what="PostgreSQL is ready", interval_s=0.2)
        await self.engine.provision({ROLE: self.password})

    async def stop(self) -> None:
        if self.process is not None:
            await self.process.stop()

    @property
    def url(self) -> str:
        return self.engine.role_url(ROLE, self.password)


class Payments:
    """`reelcloud run payments`, a process of its own on a free port."""

    def __init__(self, root: Path, *, slow_response_s: float = 30.0) -> None:
        self.root = root
        self.port = free_port()
        self.slow_response_s = slow_response_s
        self.process: ManagedProcess | None = None
        self._http: aiohttp.ClientSession | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        doc = topology_dict([free_port()], services=[{
            "name": "payments", "entrypoint": "reelcloud.services.payments.api:create_app",
            "options": {"slow_response_s": self.slow_response_s},
        }])  # fmt: skip
        self.root.mkdir(parents=True, exist_ok=True)
        topology = self.root / "payments-topology.yaml"
        topology.write_text(yaml.safe_dump(doc))
        env = {
            "REELCLOUD_SERVICE": "payments",
            "REELCLOUD_INSTANCE_ID": "test:payments:1",
            "REELCLOUD_HOST": "127.0.0.1",
            "REELCLOUD_PORT": str(self.port),
            "REELCLOUD_DATA_DIR": str(self.root / "payments-data"),
            "REELCLOUD_TOPOLOGY_FILE": str(topology),
            "REELCLOUD_ADMIN_PASSWORD": ADMIN_PASSWORD,
            "REELCLOUD_LOG_FORMAT": "text",
            "REELCLOUD_REGISTRY_USER": "payments",
            "REELCLOUD_REGISTRY_PASSWORD": registry_credential("payments")["registry_password"],
        }
        spec = ProcessSpec(
            name="payments",
            argv=[sys.executable, "-m", "reelcloud", "run", "payments"],
            log_path=self.root / "payments.log",
            env=env,
            cwd=ROOT,
        )
        self.process = ManagedProcess(spec, restart=False)
        self.process.start()
        self._http = aiohttp.ClientSession(
            headers={"Authorization": basic_authorization(ADMIN_USER, ADMIN_PASSWORD)}
        )
        await wait_for(
            self._ready,
            what=lambda: f"payments answers /readyz; its log ends:\n{self.process.log_tail()}",
            ignoring=(aiohttp.ClientError,),
        )

    async def _ready(self) -> bool:
        assert self._http is not None
        async with self._http.get(f"{self.url}/readyz") as reply:
            return reply.status == 200

    async def stop(self) -> None:
        if self._http is not None:
            await self._http.close()
        if self.process is not None:
            await self.process.stop()

    async def records(self, kind: str = "charges") -> list[dict[str, Any]]:
        """Every charge (or refund) the processor made, from its own records."""
        assert self._http is not None
        found: list[dict[str, Any]] = []
        after = 0
        while True:
            async with self._http.get(f"{self.url}/v1/{kind}", params={"after": after}) as reply:
                assert reply.status == 200, await reply.text()
                page = await reply.json()
            found += page[kind]
            if page["next_after"] is None:
                return found
            after = page["next_after"]


def billing_options(payments: Payments, **options: Any) -> dict[str, Any]:
    return {
        "payments_url": payments.url,
        # Long enough that a loaded machine is not a timeout; the year and the fault tests
        # shorten it (their checks hold whatever a timeout does: outcomes are reconciled).
        "payments_timeout_ms": 1500,
        "renewal_interval_s": 0,
        **options,
    }


def billing_settings(tmp: Path, postgres: Postgres, payments: Payments, **options: Any) -> Settings:
    doc = topology_dict([free_port()], services=[{
        "name": "billing", "entrypoint": "reelcloud.services.billing.api:create_app",
        "database": True, "options": billing_options(payments, **options),
    }])  # fmt: skip
    from reelcloud.platform.topology import Topology

    return Settings(
        service="billing",
        instance_id="test:billing:1",
        host="127.0.0.1",
        port=0,
        topology=Topology.model_validate(doc),
        data_dir=tmp,
        database_url=postgres.url,
        admin_password=ADMIN_PASSWORD,
        log_format="text",
        **registry_credential("billing"),
    )


@dataclass
class Wired:
    """Billing wired by hand around a fake clock (no gRPC, no loop): for simulations."""

    service: BillingService
    clock: FakeClock
    processor: ProcessorClient
    commands: CommandRunner

    async def aclose(self) -> None:
        await self.processor.aclose()
        await self.service.store.pool.close()


async def wired_billing(
    tmp: Path, postgres: Postgres, payments: Payments, clock: FakeClock, **options: Any
) -> Wired:
    settings = billing_settings(tmp, postgres, payments, **options)
    pool = await open_database(settings, "billing", SCHEMA)
    commands = CommandRunner()
    # The breaker would short-circuit a run full of the 500 and timeout cards; here each
    # charge must reach the processor so its outcome is its own.
    for command in ("payments", "payments-tokenize"):
        commands.config.set_command(command, circuit_breaker_enabled=False)
    parsed = BillingSettings.model_validate(billing_options(payments, **options))
    processor = ProcessorClient(
        payments.url, ADMIN_PASSWORD, commands, timeout_ms=parsed.payments_timeout_ms,
        max_concurrent=parsed.payments_max_concurrent,
        tokenize_timeout_ms=parsed.payments_tokenize_timeout_ms,
    )  # fmt: skip
    await processor.start()
    return Wired(build_service(BillingStore(pool), processor, parsed, clock), clock, processor,
                 commands)  # fmt: skip


def error_code(error: grpc.aio.AioRpcError) -> str:
    for key, value in error.trailing_metadata() or ():
        if key == ERROR_CODE_KEY:
            return str(value)
    return ""


def stub(port: int) -> tuple[grpc.aio.Channel, Any]:
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    return channel, billing_pb2_grpc.BillingStub(channel)


# ---- the checks every money test ends with ----------------------------------------------------


async def assert_books_balance(
    store: BillingStore, payments: Payments, members: Collection[str] | None = None
) -> None:
    """The ledger balances to the cent in every posting and overall; every charge and refund
    the processor made is in the ledger once and the ledger holds no other money; no invoice
    (no period of a subscription) was charged twice; and every member's receivable is their
    open invoices. `members`: check only theirs (the rest of the database is another test's)."""
    pool = store.pool
    unbalanced = await pool.fetch(
        "SELECT posting_id, sum(amount) FROM ledger_entries GROUP BY posting_id "
        "HAVING sum(amount) <> 0"
    )
    assert unbalanced == [], unbalanced
    totals = await pool.fetch(
        "SELECT p.currency, sum(e.amount) AS total FROM ledger_entries e "
        "JOIN ledger_postings p ON p.id = e.posting_id GROUP BY p.currency"
    )
    assert all(r["total"] == 0 for r in totals), totals
    scope = list(members) if members is not None else None

    def mine(charge: dict[str, Any]) -> bool:
        return scope is None or charge["metadata"]["member_id"] in scope

    charges = [c for c in await payments.records("charges") if mine(c)]
    succeeded = [c for c in charges if c["status"] == "succeeded"]
    by_charge = {c["id"]: c for c in charges}
    refunds = [r for r in await payments.records("refunds") if r["charge"] in by_charge]

    # Every charge made is a succeeded attempt with its payment posted, and the other way.
    attempts = {
        r["id"]: r
        for r in await pool.fetch(
            "SELECT a.id, a.status, a.amount, a.invoice_id, a.member_id, "
            "(SELECT count(*) FROM ledger_postings p WHERE p.id = 'payment:' || a.id) AS posted "
            "FROM attempts a WHERE a.status = 'succeeded' OR a.id = ANY($1::text[])",
            [c["metadata"]["attempt_id"] for c in succeeded],
        )
        if scope is None or r["member_id"] in scope
    }
    lost = [
        (c["metadata"], c["amount"], dict(attempts.get(c["metadata"]["attempt_id"], {})))
        for c in succeeded
        if attempts.get(c["metadata"]["attempt_id"], {}).get("status") != "succeeded"
        or attempts[c["metadata"]["attempt_id"]]["posted"] != 1
    ]
    assert lost == [], lost
    made = {c["metadata"]["attempt_id"] for c in succeeded}
    invented = [
        dict(a) for a in attempts.values() if a["status"] == "succeeded" and a["id"] not in made
    ]
    assert invented == [], invented

    processor_cash: Counter[str] = Counter()
    for charge in succeeded:
        processor_cash[charge["currency"]] += charge["amount"]
    for refund in refunds:
        processor_cash[refund["currency"]] -= refund["amount"]
    ledger_cash = {
        r["currency"]: r["balance"]
        for r in await pool.fetch(
            "SELECT p.currency, sum(e.amount) AS balance FROM ledger_entries e "
            "JOIN ledger_postings p ON p.id = e.posting_id WHERE e.account = 'cash:processor' "
            "AND ($1::text[] IS NULL OR p.member_id = ANY($1::text[])) GROUP BY p.currency",
            scope,
        )
    }
    for currency in set(ledger_cash) | set(processor_cash):
        assert ledger_cash.get(currency, 0) == processor_cash.get(currency, 0), (
            currency, ledger_cash, dict(processor_cash),
        )  # fmt: skip

    # No card charged twice for one period: at most one succeeded charge per invoice, and
    # renewal invoices are one per subscription and period.
    per_invoice = Counter(c["metadata"]["invoice_id"] for c in succeeded)
    twice = {k: n for k, n in per_invoice.items() if n > 1}
    assert twice == {}, twice
    paid = {
        r["id"]: r
        for r in await pool.fetch(
            "SELECT id, amount FROM invoices WHERE status = 'paid' "
            "AND ($1::text[] IS NULL OR member_id = ANY($1::text[]))",
            scope,
        )
    }
    assert set(per_invoice) == set(paid), set(per_invoice) ^ set(paid)
    for charge in succeeded:
        assert paid[charge["metadata"]["invoice_id"]]["amount"] == charge["amount"]
    periods = await pool.fetch(
        "SELECT subscription_id, period_start, count(*) FROM invoices WHERE kind = 'renewal' "
        "AND status = 'paid' GROUP BY 1, 2 HAVING count(*) > 1"
    )
    assert periods == [], periods

    owed = await pool.fetch(
        "SELECT member_id, m.owed, l.balance FROM "
        "(SELECT member_id, sum(amount) AS owed FROM invoices WHERE status = 'open' "
        " GROUP BY member_id) m FULL JOIN "
        "(SELECT substr(account, 12) AS member_id, sum(amount) AS balance FROM ledger_entries "
        " WHERE account LIKE 'receivable:%' GROUP BY 1) l USING (member_id) "
        "WHERE coalesce(m.owed, 0) <> coalesce(l.balance, 0)"
    )
    assert owed == [], owed
