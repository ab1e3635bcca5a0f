"""Billing against faults: hypothesis drives random sequences of them (the processor down,
an answer lost after the charge was made, billing dying between a charge and its write)
through random members and their actions, on real PostgreSQL and the real payments process,
and the same checks as the simulated year must hold; then a real billing process is killed
with SIGKILL while the processor holds a charge it has made, and the restarted process
records that charge once."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import grpc
import pytest
import pytest_asyncio
import yaml
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from test_billing_harness import (
    ADMIN_PASSWORD,
    ROOT,
    Payments,
    Postgres,
    assert_books_balance,
    billing_options,
    card,
    member_id,
    stub,
    wired_billing,
)
from tests.support.factories import discovery_client, free_port, registry_credential, topology_dict
from tests.support.servers import registry_peers
from tests.support.waiting import wait_for

from reelcloud.launcher.process import ManagedProcess, ProcessSpec
from reelcloud.platform.errors import RequestError
from reelcloud.platform.testing import FakeClock
from reelcloud.platform.topology import Topology
from reelcloud.rpc import billing_pb2
from reelcloud.services.billing.models import UNKNOWN, ChargeOutcome, Status
from reelcloud.services.billing.periods import utc
from reelcloud.services.billing.requests import NO_TRIAL, TRIAL_IF_ELIGIBLE
from reelcloud.services.payments.cards import Behaviour

pytestmark = pytest.mark.asyncio(loop_scope="module")

DAY = 86_400
DAYS = 60  # a trial, its first renewal and the whole dunning schedule, and a renewal more
DECLINING = (
    Behaviour.INSUFFICIENT_FUNDS, Behaviour.EXPIRED_CARD, Behaviour.STOLEN_CARD,
    Behaviour.REQUIRES_ACTION,
)  # fmt: skip
EXAMPLES = int(os.environ.get("REELCLOUD_BILLING_EXAMPLES", "40"))


class SimulatedCrash(Exception):
    pass


class FaultyProcessor:
    """The real processor client with a script of faults, one per call that could charge:
    `down` (nothing sent), `lost` (sent, made, the answer lost), `crash` (sent, made, then
    billing dies before writing it). Lookups fail while the next fault is `down`."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.script: list[str] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    def _next(self) -> str:
        return self.script.pop(0) if self.script else "ok"

    async def charge(self, key: str, body: dict[str, Any]) -> ChargeOutcome:
        fault = self._next()
        if fault == "down":
            return UNKNOWN
        outcome = await self.real.charge(key, body)
        if fault == "lost":
            return UNKNOWN
        if fault == "crash":
            raise SimulatedCrash(key)
        return outcome

    async def find_charge(self, key: str) -> ChargeOutcome | None:
        if self.script and self.script[0] == "down":
            self.script.pop(0)
            return UNKNOWN
        return await self.real.find_charge(key)


@dataclass
class Member:
    behaviour: Behaviour
    paid: bool
    actions: list[tuple[int, str]] = field(default_factory=list)
    id: str = field(default_factory=member_id)


ACTIONS = ("good_card", "upgrade", "downgrade", "cancel", "rejoin")
members_strategy = st.lists(
    st.builds(
        Member,
        st.sampled_from(list(Behaviour)),
        st.booleans(),
        st.lists(st.tuples(st.integers(0, DAYS - 1), st.sampled_from(ACTIONS)), max_size=3),
    ),
    min_size=1,
    max_size=4,
)
faults_strategy = st.lists(st.sampled_from(["ok", "down", "lost", "crash"]), max_size=25)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def engines(tmp_path_factory):
    root = tmp_path_factory.mktemp("billing-faults")
    postgres, payments = Postgres(root), Payments(root, slow_response_s=2)
    await postgres.start()
    await payments.start()
    wired = await wired_billing(root, postgres, payments, FakeClock(), payments_timeout_ms=150)
    faulty = FaultyProcessor(wired.processor)
    wired.service.processor = faulty
    wired.service.collector.processor = faulty
    try:
        yield wired, faulty, payments, postgres, root
    finally:
        await wired.aclose()
        await payments.stop()
        await postgres.stop()


def act(service: Any, member: str, action: str) -> Any:
    """What a member does, as the request the sign-up API would make."""
    if action == "good_card":
        return service.update_payment_method(member_id=member, card=card())
    if action in ("upgrade", "downgrade"):
        return service.change_plan(
            member_id=member, plan="premium" if action == "upgrade" else "basic"
        )
    if action == "cancel":
        return service.cancel(member_id=member)
    return service.rejoin(member_id=member)


async def survive(call: Any) -> None:
    """A member's request; billing dying under it is the request failing, not the test."""
    with contextlib.suppress(SimulatedCrash):
        await call


@settings(
    max_examples=EXAMPLES,
    report_multiple_bugs=False,
    # No shrinking: an example is a second of real PostgreSQL and HTTP, and shrinking one
    # would take minutes; the failing example is printed as found.
    phases=(Phase.explicit, Phase.reuse, Phase.generate),
    deadline=None,
    derandomize=bool(os.environ.get("CI")),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(members=members_strategy, faults=faults_strategy)
async def test_random_faults_never_lose_or_double_money(engines, members, faults):
    wired, faulty, payments, _, _ = engines
    service, clock = wired.service, wired.clock
    faulty.script = list(faults)
    for m in members:
        await survive(service.start(
            member_id=m.id, email=f"{m.id}@reelcloud.test", country="DE", currency="EUR",
            plan="standard", card=card(m.behaviour), trial=NO_TRIAL if m.paid else TRIAL_IF_ELIGIBLE,
        ))  # fmt: skip
    for day in range(DAYS):
        with contextlib.suppress(SimulatedCrash):  # a crash: the schedule runs again tomorrow
            await service.run_renewals(utc(clock.now()))
        for m in members:
            for when, action in m.actions:
                if when != day:
                    continue
                call = act(service, m.id, action)
                # Refusals (on hold, a payment pending, nothing to rejoin) are answers here.
                with contextlib.suppress(RequestError, SimulatedCrash):
                    await call
        clock.advance(DAY)
    # The faults pass; what was never heard is reconciled (twice: a resend may time out).
    faulty.script = []
    for _ in range(2):
        await service.collector.reconcile(500)

    store = service.store
    ids = [m.id for m in members]
    try:
        await check_members(store, payments, members)
    finally:
        # Examples share the database: this one's members renew no more in the next ones.
        await store.pool.execute(
            "UPDATE subscriptions SET next_action_at = NULL WHERE member_id = ANY($1)", ids
        )


async def check_members(store: Any, payments: Payments, members: list[Member]) -> None:
    ids = [m.id for m in members]
    pending = await store.pool.fetchval(
        "SELECT count(*) FROM attempts WHERE status = 'pending' AND member_id = ANY($1)", ids
    )
    assert pending == 0
    await assert_books_balance(store, payments, ids)
    for m in members:
        sub = await store.subscription(m.id)
        if sub is None:  # the sign-up itself died with billing, before anything was written
            continue
        owed = await store.receivable(m.id)
        if sub.status is Status.ON_HOLD:
            assert sub.failures == 4, (m, sub)
            assert sub.next_action_at is None
            assert owed > 0
        elif sub.status in (Status.ACTIVE, Status.TRIALING):
            assert sub.next_action_at is not None, (m, sub)
            assert owed == 0, (m, sub)
        elif sub.status is Status.PAST_DUE:
            assert sub.next_action_at is not None
        else:
            assert owed == 0, (m, sub)  # incomplete or cancelled: nothing owed
        untouched = not m.actions and not m.paid
        if untouched and m.behaviour in DECLINING:
            assert sub.status is Status.ON_HOLD, (m, sub)  # after 1, 3 and 7 days of retries
        if untouched and m.behaviour not in DECLINING:
            assert sub.status is Status.ACTIVE, (m, sub)


# ---- a real process killed between the charge and the ledger write ---------------------------


class BillingProcess:
    """`reelcloud run billing`, registered with a registry peer of the test's (its gRPC port
    is in its registration, as the platform's callers find it)."""

    def __init__(self, root, postgres: Postgres, payments: Payments, registry_port: int) -> None:
        self.root = root
        doc = topology_dict([registry_port], services=[{
            "name": "billing", "entrypoint": "reelcloud.services.billing.api:create_app",
            "database": True,
            "options": billing_options(payments, controllable_clock=True, payments_timeout_ms=30_000),
        }])  # fmt: skip
        self.topology = doc
        path = root / "billing-topology.yaml"
        path.write_text(yaml.safe_dump(doc))
        self.env = {
            "REELCLOUD_SERVICE": "billing",
            "REELCLOUD_INSTANCE_ID": "test:billing:1",
            "REELCLOUD_HOST": "127.0.0.1",
            "REELCLOUD_PORT": str(free_port()),
            "REELCLOUD_DATA_DIR": str(root / "billing-data"),
            "REELCLOUD_TOPOLOGY_FILE": str(path),
            "REELCLOUD_DATABASE_URL": postgres.url,
            "REELCLOUD_ADMIN_PASSWORD": ADMIN_PASSWORD,
            "REELCLOUD_LOG_FORMAT": "text",
            "REELCLOUD_REGISTRY_USER": "billing",
            "REELCLOUD_REGISTRY_PASSWORD": registry_credential("billing")["registry_password"],
        }
        self.process: ManagedProcess | None = None

    def start(self) -> None:
        spec = ProcessSpec(
            name="billing", argv=[sys.executable, "-m", "reelcloud", "run", "billing"],
            log_path=self.root / "billing.log", env=self.env, cwd=ROOT,
        )  # fmt: skip
        self.process = ManagedProcess(spec, restart=False)
        self.process.start()

    def kill(self) -> None:
        assert self.process is not None
        assert self.process.pid is not None
        os.kill(self.process.pid, signal.SIGKILL)

    async def stop(self) -> None:
        if self.process is not None:
            await self.process.stop()


async def grpc_port_of(discovery, previous: str | None = None) -> tuple[str, int]:
    """The gRPC port of the billing instance registered (another than `previous`'s)."""

    def registered():
        for instance in discovery.instances("billing"):
            port = instance.metadata.get("grpc.port")
            if port and port != previous:
                return port
        return None

    port = await wait_for(registered, what="billing registered its gRPC port")
    return port, int(port)


async def test_billing_killed_between_charge_and_write_records_the_charge_once(engines):
    _, _, _, postgres, root = engines
    crash_root = root / "crash"
    crash_root.mkdir()
    # This processor holds the timeout card's answer far longer than billing waits for it.
    payments = Payments(crash_root, slow_response_s=120)
    await payments.start()
    topology = Topology.model_validate(topology_dict([free_port()]))
    async with registry_peers(topology, crash_root / "registry"):
        registry_port = topology.registry.peers[0].port
        billing = BillingProcess(crash_root, postgres, payments, registry_port)
        discovery = discovery_client(
            [f"http://127.0.0.1:{registry_port}/eureka/"], "test-client", 1, fetch=True
        )
        await discovery.start()
        channel = None
        try:
            billing.start()
            previous, port = await grpc_port_of(discovery)
            channel, client = stub(port)
            member = member_id()
            request = billing_pb2.StartSubscriptionRequest(
                member_id=member,
                email=f"{member}@reelcloud.test",
                country="US",
                plan="standard",
                card=_card(card(Behaviour.TIMEOUT)),
                trial=billing_pb2.NO_TRIAL,
                idempotency_key="join-1",
            )
            signing_up = asyncio.ensure_future(client.StartSubscription(request, timeout=60))

            async def charged():
                return [c for c in await payments.records() if c["metadata"]["member_id"] == member]

            [charge] = await wait_for(charged, what="the processor made the sign-up's charge")
            assert charge["status"] == "succeeded"
            billing.kill()  # the charge made, its answer not yet heard, nothing written
            with pytest.raises(grpc.aio.AioRpcError):
                await signing_up
            await channel.close()
            store_pool = await asyncpg.connect(
                postgres.url.rsplit("/", 1)[0] + "/reelcloud_billing"
            )
            try:
                row = await store_pool.fetchrow(
                    "SELECT status FROM attempts WHERE member_id = $1", member
                )
                assert row["status"] == "pending"
                assert (
                    await store_pool.fetchval(
                        "SELECT count(*) FROM ledger_postings WHERE kind = 'payment' AND member_id = $1",
                        member,
                    )
                    == 0
                )
            finally:
                await store_pool.close()

            billing.start()  # back: the next run reconciles what was never heard
            _, port = await grpc_port_of(discovery, previous)
            channel, client = stub(port)
            report = await client.RunRenewals(billing_pb2.RunRenewalsRequest(), timeout=30)
            assert report.reconciled == 1
            sub = await client.GetSubscription(billing_pb2.GetSubscriptionRequest(member_id=member))
            assert (sub.status, sub.balance_due.amount_minor) == ("active", 0)
            # The member's retry of the same request answers the first one's outcome.
            again = await client.StartSubscription(request, timeout=30)
            assert again.payment.status == "succeeded"
            assert len(await charged()) == 1
            [invoice] = (
                await client.ListInvoices(billing_pb2.ListInvoicesRequest(member_id=member))
            ).invoices
            assert invoice.status == "paid"
        finally:
            if channel is not None:
                await channel.close()
            await discovery.aclose()
            await billing.stop()
            await payments.stop()


def _card(c):
    return billing_pb2.Card(number=c.number, exp_month=c.exp_month, exp_year=c.exp_year, cvc=c.cvc)
