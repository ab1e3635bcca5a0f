"""Sign-ups and renewals.

Sign-ups: the launcher starts PostgreSQL, NATS, a registry, accounts, the card processor
(payments), billing, the sign-up API and a gateway (`reelcloud up --detach`, a topology of
its own on free ports, its own data directory). Visitors join through the gateway's
`POST /api/signup`, `SIGNUP_CONCURRENCY` at a time (aiohttp): each with its own email, its
own approving test card (a card has one free trial), `"trial": "required"` and its own
Idempotency-Key, so every sign-up is a whole one — a member created as pending (its password
hashed), billing's trial started with the card saved at the processor, the member activated
and signed in. A 503 (accounts shedding hashes it could not start within 2 s) is retried
with the same key after its Retry-After, as the web client does; a sign-up's latency is from
its first attempt to its last answer. After a warm-up of a few sign-ups, a batch of 80
(1,000 without --quick) is timed: `signups_per_s` is its 201s over its wall time, with p50
and p99 latency. Every answer is counted by status, and every one that is not a 201 with an
active trial by status and code; the run fails if more than 1 % of the sign-ups did not
join. The CPU each process used during the batch (from /proc, PostgreSQL's backends and this
benchmark's own client included) says where a sign-up's time goes and which process is the
bottleneck.

The floor a sign-up is held to is the raw rate of its password hash on this machine (argon2id
at accounts' parameters), measured alone right after the sign-ups: `hash_per_s` on as many
threads as cores. A sign-up costs at least one hash, so `signup_vs_hash` (signups_per_s /
hash_per_s) is at most 1.0. Accounts hashes on one core fewer than the machine has
(`hash_workers`: one thread on 2 cores), so its own ceiling is the one-thread rate,
`hash_per_s_one_thread`, about half of `hash_per_s` on a quiet 2-core machine;
`signup_vs_one_thread_hash` is the fraction of that ceiling reached.

Renewals: 100,000 subscriptions (2,000 with --quick) due at one instant, renewed by billing's
renewal run (batches claimed and written in one transaction each, every charge sent to the real
payments process over HTTP with its idempotency key, the outcomes written in one transaction a
batch), against a bare SQL loop doing the same writes one renewal at a time (invoice, its
posting and entries, the attempt, the subscription; then the attempt, invoice, payment posting,
subscription and two outbox rows) with no processor at all. Also billing's run with an
in-process processor that approves at once: the engine's own cost without the processor's.

    python benchmarks/signup.py [--quick]

The last line printed is one JSON object with the headline figures: {"signups_per_s",
"signup_vs_hash", "renewals_per_s", "renewals_vs_sql", ...}.
"""

from __future__ import annotations

import asyncio
import math
import os
import secrets
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import orjson
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.cli import cli_env, reelcloud, wait_gone, wait_status
from tests.support.factories import topology_dict
from tests.support.platform import SERVICES, all_up

import harness
from reelcloud.launcher.engines import free_port
from reelcloud.launcher.engines.postgres import PostgresEngine
from reelcloud.launcher.process import ManagedProcess, ProcessSpec
from reelcloud.platform.credentials import ADMIN_USER, basic_authorization
from reelcloud.platform.resilience import CommandRunner
from reelcloud.platform.testing import FakeClock
from reelcloud.services.accounts.hashing import HASHER
from reelcloud.services.billing.api import build_service
from reelcloud.services.billing.models import ChargeOutcome
from reelcloud.services.billing.periods import add_months, utc
from reelcloud.services.billing.processor import ProcessorClient
from reelcloud.services.billing.settings import BillingSettings
from reelcloud.services.billing.store import SCHEMA, BillingStore
from reelcloud.services.payments.cards import Behaviour, card_number

ROOT = Path(__file__).resolve().parents[1]
ADMIN_PASSWORD = secrets.token_hex(16)
DUE = 1_750_000_000.0
METHODS = 100  # processor tokens the subscriptions share (a charge's cost is per charge)
OPTIONS = {"renewal_batch": 1000, "charge_concurrency": 64, "payments_timeout_ms": 10_000}
# Visitors joining at once. Measured here (2 cores): 4 already keeps accounts' one hashing
# thread busy (its process at ~1 core, the rest of the path ~0.6); 12-16 only queue (p50
# 0.8-1.8 s) and, when neighbours load the machine, get 503s from accounts' 2 s hash queue.
SIGNUP_CONCURRENCY = 8
CLK_TCK = os.sysconf("SC_CLK_TCK")
UNLIMITED = {"rate_per_client_per_s": 1e6, "burst_per_client": 1_000_000}  # one client address


async def start_postgres(work: Path) -> tuple[ManagedProcess, PostgresEngine, dict[str, str]]:
    engine = PostgresEngine(work / "pg", work / "pg.log")
    process = ManagedProcess(await asyncio.to_thread(engine.prepare), restart=False)
    process.start()
    while not await engine.ready():
        await asyncio.sleep(0.2)
    roles = {"reelcloud_billing": secrets.token_hex(8), "reelcloud_baseline": secrets.token_hex(8)}
    await engine.provision(roles)
    urls = {role: engine.role_url(role, password) for role, password in roles.items()}
    return process, engine, urls


async def start_payments(work: Path) -> tuple[ManagedProcess, str]:
    port = free_port()
    topology = work / "topology.yaml"
    topology.write_text(
        "name: bench\nregion: bench-1\nzones: [z1]\n"
        f"registry: {{peers: [{{host: 127.0.0.1, port: {free_port()}, zone: z1}}]}}\n"
        "engines: {postgres: {enabled: false}, nats: {enabled: false}, "
        "seaweedfs: {enabled: false}}\ndemo_catalog: {enabled: false}\n"
        "services:\n  - {name: payments, entrypoint: reelcloud.services.payments.api:create_app}\n"
    )
    env = {
        "REELCLOUD_SERVICE": "payments",
        "REELCLOUD_INSTANCE_ID": "bench:payments:1",
        "REELCLOUD_HOST": "127.0.0.1",
        "REELCLOUD_PORT": str(port),
        "REELCLOUD_DATA_DIR": str(work / "payments"),
        "REELCLOUD_TOPOLOGY_FILE": str(topology),
        "REELCLOUD_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "REELCLOUD_LOG_LEVEL": "WARNING",
    }
    spec = ProcessSpec("payments", [sys.executable, "-m", "reelcloud", "run", "payments"],
                       work / "payments.log", env=env, cwd=ROOT)  # fmt: skip
    process = ManagedProcess(spec, restart=False)
    process.start()
    url = f"http://127.0.0.1:{port}"
    async with aiohttp.ClientSession() as http:
        for _ in range(300):
            try:
                async with http.get(f"{url}/readyz") as reply:
                    if reply.status == 200:
                        return process, url
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise SystemExit(f"payments did not start; see {work / 'payments.log'}")


async def payment_methods(url: str) -> list[dict[str, Any]]:
    auth = {"Authorization": basic_authorization(ADMIN_USER, ADMIN_PASSWORD)}
    async with aiohttp.ClientSession(headers=auth) as http:
        found = []
        for serial in range(METHODS):
            card = {"number": card_number(Behaviour.APPROVE, serial), "exp_month": 12,
                    "exp_year": 2099, "cvc": "123"}  # fmt: skip
            async with http.post(f"{url}/v1/payment_methods", json=card) as reply:
                found.append(await reply.json())
        return found


async def seed(pool: asyncpg.Pool, count: int, methods: list[dict[str, Any]], prefix: str) -> None:
    """`count` active subscriptions whose period ends at DUE (what a renewal run finds)."""
    due = utc(DUE)
    start = add_months(due, -1)
    await pool.executemany(
        "INSERT INTO payment_methods (id, member_id, fingerprint, brand, last4, exp_month, "
        "exp_year) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO NOTHING",
        [(m["id"], "bench", m["fingerprint"], m["brand"], m["last4"], m["exp_month"],
          m["exp_year"]) for m in methods],
    )  # fmt: skip
    rows = [
        (f"sub_{prefix}{n:07d}", f"m-{prefix}{n:07d}", f"m{n}@bench.test", "US", "USD",
         "standard", "active", start, 0, start, due, start, None, None, False,
         methods[n % len(methods)]["id"], None, None, 0, due)
        for n in range(count)
    ]  # fmt: skip
    async with pool.acquire() as conn:
        await conn.copy_records_to_table(
            "subscriptions",
            records=rows,
            columns=[
                "id", "member_id", "email", "country", "currency", "plan", "status",
                "anchor_at", "period_index", "period_start", "period_end", "created_at",
                "pending_plan", "trial_end", "cancel_at_period_end", "payment_method_id",
                "open_invoice_id", "failed_at", "failures", "next_action_at",
            ],
        )  # fmt: skip


class InstantProcessor:
    """Approves every charge at once, in process: the renewal engine without the network."""

    async def charge(self, key: str, body: dict[str, Any]) -> ChargeOutcome:
        return ChargeOutcome("succeeded", charge_id="ch_" + key[-20:])

    async def find_charge(self, key: str) -> ChargeOutcome | None:
        return None


async def billing_run(pool: asyncpg.Pool, processor: Any, count: int) -> float:
    service = build_service(
        BillingStore(pool), processor, BillingSettings.model_validate(OPTIONS), FakeClock(DUE)
    )
    started = time.perf_counter()
    report = await service.run_renewals(utc(DUE))
    elapsed = time.perf_counter() - started
    assert report.renewed == count, report
    return elapsed


async def sql_loop(conn: asyncpg.Connection, count: int, prefix: str) -> float:
    """The same rows written renewal by renewal: two transactions each (before the charge and
    after it), one statement at a time, nothing batched."""
    due = utc(DUE)
    end = add_months(due, 1)
    started = time.perf_counter()
    for n in range(count):
        sub, member = f"sub_{prefix}{n:07d}", f"m-{prefix}{n:07d}"
        invoice, attempt = f"in_{prefix}{n:07d}", f"pay_{prefix}{n:07d}"
        async with conn.transaction():
            await conn.execute(
                "INSERT INTO invoices (id, subscription_id, member_id, kind, plan, period_start, "
                "period_end, amount, currency, status, issued_at, refunded) VALUES "
                "($1, $2, $3, 'renewal', 'standard', $4, $5, 1549, 'USD', 'open', $4, 0)",
                invoice, sub, member, due, end,
            )  # fmt: skip
            await conn.execute(
                "INSERT INTO ledger_postings (id, kind, ref, member_id, currency, at) "
                "VALUES ($1, 'issue', $2, $3, 'USD', $4)",
                f"issue:{invoice}", invoice, member, due,
            )  # fmt: skip
            await conn.execute(
                "INSERT INTO ledger_entries (posting_id, account, amount) VALUES ($1, $2, 1549), "
                "($1, 'revenue', -1549)",
                f"issue:{invoice}", f"receivable:{member}",
            )  # fmt: skip
            await conn.execute(
                "INSERT INTO attempts (id, invoice_id, subscription_id, member_id, "
                "idempotency_key, payment_method_id, amount, currency, initiator, status, "
                "created_at, decline_code, charge_id) VALUES ($1, $2, $3, $4, $5, 'pm', 1549, "
                "'USD', 'schedule', 'pending', $6, '', '')",
                attempt, invoice, sub, member, f"{invoice}/1", due,
            )  # fmt: skip
            await conn.execute(
                "UPDATE subscriptions SET period_index = 1, period_start = $2, period_end = $3, "
                "open_invoice_id = $4, next_action_at = NULL WHERE id = $1",
                sub, due, end, invoice,
            )  # fmt: skip
        async with conn.transaction():
            await conn.execute(
                "UPDATE attempts SET status = 'succeeded', charge_id = 'ch', decided_at = $2 "
                "WHERE id = $1",
                attempt, due,
            )  # fmt: skip
            await conn.execute(
                "UPDATE invoices SET status = 'paid', paid_at = $2 WHERE id = $1", invoice, due
            )
            await conn.execute(
                "INSERT INTO ledger_postings (id, kind, ref, member_id, currency, at) "
                "VALUES ($1, 'payment', $2, $3, 'USD', $4)",
                f"payment:{attempt}", attempt, member, due,
            )  # fmt: skip
            await conn.execute(
                "INSERT INTO ledger_entries (posting_id, account, amount) VALUES "
                "($1, 'cash:processor', 1549), ($1, $2, -1549)",
                f"payment:{attempt}", f"receivable:{member}",
            )  # fmt: skip
            await conn.execute(
                "UPDATE subscriptions SET status = 'active', open_invoice_id = NULL, "
                "next_action_at = $2 WHERE id = $1",
                sub, end,
            )  # fmt: skip
            payload = orjson.dumps({"member_id": member, "subscription_id": sub}).decode()
            await conn.execute(
                "INSERT INTO outbox (type, payload) VALUES ('payment.succeeded', $1::jsonb), "
                "('subscription.renewed', $1::jsonb)",
                payload,
            )
    return time.perf_counter() - started


def hash_rate(seconds: float, workers: int | None = None) -> float:
    """argon2id hashes a second at accounts' parameters, on `workers` threads (one per core
    unless told)."""
    workers = workers or len(os.sched_getaffinity(0))
    deadline = time.perf_counter() + seconds

    def hash_until() -> int:
        done = 0
        while time.perf_counter() < deadline:
            HASHER.hash("correct horse battery staple")
            done += 1
        return done

    started = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        total = sum(pool.map(lambda _: hash_until(), range(workers)))
    return total / (time.perf_counter() - started)


async def measure_renewals(quick: bool) -> dict[str, Any]:
    count = 2_000 if quick else 100_000
    work = Path(tempfile.mkdtemp(prefix="reelcloud-signup-"))
    postgres, _, urls = await start_postgres(work)
    payments, payments_url = await start_payments(work)
    try:
        methods = await payment_methods(payments_url)
        billing = await asyncpg.create_pool(urls["reelcloud_billing"], min_size=1, max_size=10)
        baseline = await asyncpg.connect(urls["reelcloud_baseline"])
        await billing.execute(SCHEMA)
        await baseline.execute(SCHEMA)

        print(f"seeding {count:,} subscriptions due at one instant, twice …", file=sys.stderr)
        await seed(billing, count, methods, "a")
        await seed(billing, count, methods, "b")
        baseline_pool = await asyncpg.create_pool(
            urls["reelcloud_baseline"], min_size=1, max_size=2
        )
        await seed(baseline_pool, count, methods, "c")
        await baseline_pool.close()

        commands = CommandRunner()
        commands.config.set_command("payments", circuit_breaker_enabled=False)
        processor = ProcessorClient(payments_url, ADMIN_PASSWORD, commands,
                                    timeout_ms=OPTIONS["payments_timeout_ms"],
                                    max_concurrent=OPTIONS["charge_concurrency"])  # fmt: skip
        await processor.start()
        print("billing's renewal run, charging the payments process over HTTP …", file=sys.stderr)
        # Only the first set is due at first: the second waits a second later.
        await billing.execute(
            "UPDATE subscriptions SET next_action_at = next_action_at + interval '1 day' "
            "WHERE id LIKE 'sub_b%'"
        )
        with_processor_s = await billing_run(billing, processor, count)
        await processor.aclose()
        await billing.execute(
            "UPDATE subscriptions SET next_action_at = next_action_at - interval '1 day' "
            "WHERE id LIKE 'sub_b%'"
        )
        print("billing's renewal run, an instant processor in process …", file=sys.stderr)
        instant_s = await billing_run(billing, InstantProcessor(), count)
        print(f"a bare SQL loop doing the same writes, {count:,} renewals …", file=sys.stderr)
        sql_s = await sql_loop(baseline, count, "c")
        await baseline.close()
        await billing.close()
    finally:
        await payments.stop()
        await postgres.stop()
    renewals = count / with_processor_s
    sql = count / sql_s
    print(
        f"{count:,} renewals: billing {with_processor_s:.1f} s ({renewals:,.0f}/s) with the "
        f"processor over HTTP, {instant_s:.1f} s ({count / instant_s:,.0f}/s) with an instant "
        f"one; the bare SQL loop {sql_s:.1f} s ({sql:,.0f}/s)",
        file=sys.stderr,
    )
    return {
        "renewals_per_s": round(renewals),
        "renewals_vs_sql": round(renewals / sql, 2),
        "renewals": count,
        "renewal_wall_s": round(with_processor_s, 2),
        "renewals_per_s_instant_processor": round(count / instant_s),
        "sql_loop_per_s": round(sql),
        "sql_loop_wall_s": round(sql_s, 2),
    }


def signup_topology(work: Path, gateway_port: int) -> Path:
    names = [("accounts", 1, {}), ("payments", 1, {"port": free_port()}), ("billing", 2, {}),
             ("signup-api", 3, {})]  # fmt: skip
    services: list[dict[str, Any]] = [
        {"name": name, "entrypoint": SERVICES[name], "layer": layer, **extra}
        for name, layer, extra in names
    ]
    for service in services:
        service["database"] = service["name"] in ("accounts", "billing")
    services.append({"name": "gateway", "entrypoint": SERVICES["gateway"], "layer": 4,
                     "options": {"listen_port": gateway_port, **UNLIMITED}})  # fmt: skip
    doc = topology_dict([free_port()], services=services)
    doc["engines"].update(postgres={"enabled": True}, nats={"enabled": True})
    path = work / "topology.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def signup_form(n: int, run_id: str) -> dict[str, Any]:
    card = {"number": card_number(Behaviour.APPROVE, n), "exp_month": 12, "exp_year": 2099,
            "cvc": "123"}  # fmt: skip
    return {"email": f"bench-{run_id}-{n}@example.test", "password": "correct horse battery",
            "name": f"Bench {n}", "country": "GB", "plan": "standard", "card": card,
            "trial": "required"}  # fmt: skip


async def sign_ups(gateway: str, first: int, count: int, run_id: str) -> dict[str, Any]:
    """`count` sign-ups, SIGNUP_CONCURRENCY at a time: wall time, latencies, every answer by
    status, and each sign-up that did not join by its last status and code. A 503 (accounts
    shedding hashes) is retried with the same key after its Retry-After, as the web client
    does, so the rate counts finished sign-ups."""
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    failed: dict[str, int] = {}
    queue = iter(range(first, first + count))

    async def visitor(http: aiohttp.ClientSession) -> None:
        for n in queue:
            body, key = orjson.dumps(signup_form(n, run_id)), f"bench-{run_id}-{n}"
            started = time.perf_counter()
            for _ in range(20):
                async with http.post(
                    f"{gateway}/api/signup", data=body,
                    headers={"Idempotency-Key": key, "Content-Type": "application/json"},
                ) as reply:  # fmt: skip
                    answer = await reply.read()
                    statuses[str(reply.status)] = statuses.get(str(reply.status), 0) + 1
                    if reply.status != 503:
                        break
                    await asyncio.sleep(float(reply.headers.get("Retry-After", "1")))
            latencies.append((time.perf_counter() - started) * 1000)
            outcome = refusal(reply.status, answer)
            if outcome:
                failed[outcome] = failed.get(outcome, 0) + 1

    started = time.perf_counter()
    connector = aiohttp.TCPConnector(limit=SIGNUP_CONCURRENCY)
    async with aiohttp.ClientSession(
        connector=connector, cookie_jar=aiohttp.DummyCookieJar()
    ) as http:
        await asyncio.gather(*(visitor(http) for _ in range(SIGNUP_CONCURRENCY)))
    return {"wall_s": time.perf_counter() - started, "latencies": sorted(latencies),
            "statuses": statuses, "failed": failed}  # fmt: skip


def refusal(status: int, body: bytes) -> str:
    """'' for a 201 that made an active member on a trial; else the status and what was wrong
    (the error's code, or the 201's status and trial)."""
    try:
        answer = orjson.loads(body)
    except orjson.JSONDecodeError:
        return f"{status} not_json"
    if not isinstance(answer, dict):
        return f"{status} not_an_object"
    if status == 201:
        if answer.get("status") == "active" and answer.get("trial") is True:
            return ""
        return f"201 {answer.get('status')} trial={answer.get('trial')}"
    return f"{status} {(answer.get('error') or {}).get('code', '?')}"


def cpu_seconds(pids: dict[str, list[int]]) -> dict[str, float]:
    """CPU time (user + system) of each named group of processes and all their descendants:
    PostgreSQL's work is done by its backends, children of the postmaster."""
    children: dict[int, list[int]] = {}
    times: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry.name))
        times[int(entry.name)] = (int(fields[11]) + int(fields[12])) / CLK_TCK
    totals = {}
    for name, roots in pids.items():
        todo, total = list(roots), 0.0
        while todo:
            pid = todo.pop()
            total += times.get(pid, 0.0)
            todo += children.get(pid, [])
        totals[name] = total
    return totals


def percentile(values: list[float], pct: float) -> float:
    """The nearest-rank percentile of sorted `values`."""
    return values[max(0, math.ceil(len(values) * pct / 100) - 1)]


async def measure_signups(quick: bool) -> dict[str, Any]:
    count = 80 if quick else 1000
    work = Path(tempfile.mkdtemp(prefix="reelcloud-signup-api-"))
    gateway_port = free_port()
    gateway = f"http://127.0.0.1:{gateway_port}"
    data_dir = work / "data"
    print("starting accounts, payments, billing, the sign-up API and a gateway …", file=sys.stderr)
    up = await asyncio.to_thread(
        reelcloud, "up", "--detach", "--topology", str(signup_topology(work, gateway_port)),
        "--data-dir", str(data_dir), env=cli_env(), timeout=180,
    )  # fmt: skip
    if up.returncode != 0:
        raise SystemExit(up.stdout + up.stderr)
    try:
        current = await asyncio.to_thread(wait_status, data_dir, all_up, timeout_s=90)
        pids: dict[str, list[int]] = {"client": [os.getpid()]}  # this benchmark's visitors
        for process in current["instances"] + current["engines"]:
            pids.setdefault(process.get("service") or process["name"], []).append(process["pid"])
        run_id = secrets.token_hex(3)
        warm = 2 * SIGNUP_CONCURRENCY  # gRPC channels, connection pools, the hash's estimate
        warming = await sign_ups(gateway, 0, warm, run_id)
        print(f"{count:,} sign-ups through the gateway, {SIGNUP_CONCURRENCY} at a time …",
              file=sys.stderr)  # fmt: skip
        before = cpu_seconds(pids)
        timed = await sign_ups(gateway, warm, count, run_id)
        after = cpu_seconds(pids)
    finally:
        await asyncio.to_thread(reelcloud, "down", "--data-dir", str(data_dir))
        left = await asyncio.to_thread(wait_gone, str(data_dir))
        if left:
            print(f"still running after `reelcloud down`: {left}", file=sys.stderr)
    not_joined = dict(timed["failed"])
    for reason, n in warming["failed"].items():
        not_joined[f"warm-up: {reason}"] = not_joined.get(f"warm-up: {reason}", 0) + n
    joined = count - sum(timed["failed"].values())
    if not_joined:
        print(f"sign-ups that did not join: {not_joined}", file=sys.stderr)
    if sum(not_joined.values()) > 0.01 * (count + warm):
        raise SystemExit(
            f"only {joined} of {count} timed sign-ups joined (more than 1 % did not): "
            f"{not_joined}; every answer by status: {timed['statuses']}"
        )
    busy = {name: after[name] - before[name] for name in pids}
    wall_s = timed["wall_s"]
    print(f"cores each process kept busy during the sign-ups: "
          f"{ {n: round(s / wall_s, 2) for n, s in sorted(busy.items(), key=lambda i: -i[1])} }",
          file=sys.stderr)  # fmt: skip
    return {
        "signups_per_s": joined / wall_s,
        "signups": joined,
        "signup_p50_ms": round(percentile(timed["latencies"], 50), 1),
        "signup_p99_ms": round(percentile(timed["latencies"], 99), 1),
        "signup_concurrency": SIGNUP_CONCURRENCY,
        "signup_wall_s": round(wall_s, 2),
        # every answer of the timed batch by status, retried 503s included
        "signup_answers": dict(sorted(timed["statuses"].items())),
        "signups_shed_and_retried": timed["statuses"].get("503", 0),
        "signups_not_joined": not_joined,
        # CPU milliseconds each process spent per sign-up: where the time goes.
        "cpu_ms_per_signup": {
            name: round(seconds * 1000 / joined, 1)
            for name, seconds in sorted(busy.items(), key=lambda item: -item[1])
        },
        # cores each process kept busy: the bottleneck is the one near a whole core
        "cpu_cores_during_signups": {
            name: round(seconds / wall_s, 2)
            for name, seconds in sorted(busy.items(), key=lambda item: -item[1])
        },
    }


async def run(quick: bool) -> dict[str, Any]:
    joining = await measure_signups(quick)
    # Right after the sign-ups (the platform stopped), so both figures of the ratio see the
    # same neighbours on this shared machine.
    print("argon2id at accounts' parameters, alone …", file=sys.stderr)
    hashes = hash_rate(1.5 if quick else 5.0)
    one_thread = hash_rate(1.0 if quick else 3.0, workers=1)  # accounts' own pool, on 2 cores
    renewing = await measure_renewals(quick)
    print(
        f"{joining['signups']:,} sign-ups at {joining['signups_per_s']:.1f}/s through the "
        f"gateway (p50 {joining['signup_p50_ms']} ms, p99 {joining['signup_p99_ms']} ms); "
        f"argon2id alone {hashes:,.1f} hashes/s, {one_thread:,.1f} on one thread"
    )
    return {
        "signups_per_s": round(joining["signups_per_s"], 1),
        "signup_vs_hash": round(joining["signups_per_s"] / hashes, 2),
        "renewals_per_s": renewing.pop("renewals_per_s"),
        "renewals_vs_sql": renewing.pop("renewals_vs_sql"),
        **{k: v for k, v in joining.items() if k != "signups_per_s"},
        **renewing,
        "hash_per_s": round(hashes, 1),
        "hash_per_s_one_thread": round(one_thread, 1),
        "signup_vs_one_thread_hash": round(joining["signups_per_s"] / one_thread, 2),
    }


if __name__ == "__main__":
    harness.main(__doc__ or "", run)
