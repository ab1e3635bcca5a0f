"""Supervised consumers against a real nats-server: a poison event is given up after a few
deliveries and the ones after it are handled; a consumer that is killed, loses NATS or has its
durable deleted on the server is started again, and the service's /readyz is 503 naming it
meanwhile while /healthz stays 200."""

from typing import ClassVar

import nats
import pytest
import pytest_asyncio
from aiohttp import web
from tests.support.factories import free_port, registry_credential, topology_dict
from tests.support.servers import RunningService, registry_peers
from tests.support.waiting import wait_for

from reelcloud.platform.app import STATE, add_readiness_check, create_service_app
from reelcloud.platform.events import (
    Envelope,
    EventMetrics,
    EventPayload,
    EventProducer,
    EventSubscription,
    decode,
)
from reelcloud.platform.events.schema import STREAM
from reelcloud.platform.settings import Settings
from reelcloud.platform.topology import Topology

pytestmark = pytest.mark.asyncio

SUBJECT = "events.test.drill"


class Drill(EventPayload):
    event_type: ClassVar[str] = "test.drill"
    n: int


# ---- a service that consumes, as the catalog does ---------------------------------------------

HANDLED = web.AppKey("handled", list)
SUBSCRIPTION = web.AppKey("subscription", EventSubscription)


def create_app(settings: Settings) -> web.Application:
    app = create_service_app(settings)
    handled: list[int] = []
    app[HANDLED] = handled

    async def handle(envelope: Envelope) -> None:
        handled.append(decode(envelope).n)

    assert settings.nats_url is not None
    subscription = EventSubscription(
        settings.nats_url, "drill", SUBJECT, handle,
        metrics=EventMetrics(app[STATE].metrics.registry), fetch_timeout_s=0.5,
    )  # fmt: skip
    app[SUBSCRIPTION] = subscription
    add_readiness_check(app, subscription.name, subscription.problem)

    async def lifecycle(app: web.Application):
        subscription.start()
        yield
        await subscription.aclose()

    app.cleanup_ctx.append(lifecycle)
    return app


@pytest_asyncio.fixture
async def producer(nats_server, tmp_path):
    producer = EventProducer(nats_server.url, producer_id="drill", spool_dir=tmp_path / "spool")
    await producer.start()
    yield producer
    await producer.aclose()


@pytest_asyncio.fixture
async def service(nats_server, tmp_path):
    entry = {"name": "drill", "entrypoint": f"{__name__}:create_app"}
    topology = Topology.model_validate(topology_dict([free_port()], services=[entry]))
    async with registry_peers(topology, tmp_path):
        service = RunningService(
            Settings(
                service="drill",
                topology=topology,
                data_dir=tmp_path,
                log_format="text",
                nats_url=nats_server.url,
                **registry_credential("drill"),
            )
        )
        await service.start()  # ready: the consumer is subscribed
        yield service
        await service.stop()


async def readyz(http, service):
    async with http.get(service.url + "/readyz") as reply:
        return reply.status, await reply.json()


async def healthz(http, service):
    async with http.get(service.url + "/healthz") as reply:
        return reply.status


async def metric(http, service, name):
    async with http.get(service.url + "/metrics") as reply:
        text = await reply.text()
    for line in text.splitlines():
        if line.startswith(name + '{consumer="drill"} '):
            return float(line.split()[-1])
    return 0.0


async def restarts(http, service):
    return await metric(http, service, "reelcloud_events_consumer_restarts_total")


# ---- tests --------------------------------------------------------------------------------------


async def test_a_poison_event_is_given_up_and_the_ones_after_it_are_handled(nats_server, producer):
    handled: list[int] = []
    attempts: dict[int, int] = {}

    async def handle(envelope):
        n = decode(envelope).n
        attempts[n] = attempts.get(n, 0) + 1
        if n == 3:
            raise RuntimeError("this one breaks the handler, every time")
        handled.append(n)

    subscription = EventSubscription(
        nats_server.url, "poison", SUBJECT, handle, max_deliveries=3, redeliver_after_s=0.05,
        fetch_timeout_s=0.5,
    )  # fmt: skip
    subscription.start()
    bus = await nats.connect(nats_server.url)
    try:
        for n in range(10):
            producer.publish(Drill(n=n))
        await wait_for(lambda: producer.stats["published"] == 10, what="ten events published")
        await bus.jetstream().publish(SUBJECT, b"not an envelope")  # terminated at once
        producer.publish(Drill(n=10))
        await wait_for(
            lambda: subscription.poisoned == 2 and len(handled) == 10,
            what=lambda: f"all but the poison handled ({handled}, {subscription.poisoned})",
        )
    finally:
        await bus.close()
        await subscription.aclose()
    assert sorted(handled) == [n for n in range(11) if n != 3]  # each once
    assert attempts[3] == 3  # delivered max_deliveries times, then terminated
    metrics = subscription.metrics
    assert (
        metrics.value("reelcloud_events_poison_total", consumer="poison", reason="handler_failed")
        == 1
    )
    assert (
        metrics.value("reelcloud_events_poison_total", consumer="poison", reason="unreadable") == 1
    )
    assert subscription.supervised.restarts == 0  # the consumer itself never stopped


async def test_a_killed_consumer_is_restarted_and_readyz_is_503_while_it_is_down(
    nats_server, producer, service, http
):
    handled = service.app[HANDLED]
    subscription = service.app[SUBSCRIPTION]
    assert await readyz(http, service) == (
        200, {"status": "ready", "checks": {subscription.name: "ok"}}
    )  # fmt: skip
    producer.publish(Drill(n=1))
    await wait_for(lambda: handled == [1], what="the first event is handled")

    # NATS goes away: the consumer cannot consume, so the service is not ready; it is alive.
    nats_server.stop()

    async def down():
        status, body = await readyz(http, service)
        return status == 503 and body

    body = await wait_for(down, what="/readyz turns 503 while NATS is away")
    assert body["error"]["code"] == "not_ready"
    assert subscription.name in body["error"]["message"]
    assert body["checks"][subscription.name] != "ok"
    assert await healthz(http, service) == 200
    assert await metric(http, service, "reelcloud_events_consumer_up") == 0

    # Killed while NATS is away: it restarts, and keeps trying until NATS is back.
    assert subscription.supervised.kill()
    await wait_for(lambda: subscription.supervised.restarts >= 1, what="a restart after the kill")
    assert (await readyz(http, service))[0] == 503
    nats_server.start()
    await wait_for(
        lambda: _is_ready(http, service), what="/readyz is 200 again once the consumer is back"
    )
    assert await restarts(http, service) >= 1  # on /metrics
    assert await metric(http, service, "reelcloud_events_consumer_up") == 1
    producer.publish(Drill(n=2))
    await wait_for(lambda: handled[-1:] == [2], what=lambda: f"the next event is handled {handled}")
    assert handled.count(1) == 1


async def test_a_consumer_deleted_on_the_server_is_made_again_and_consumes_on(
    nats_server, producer, service, http
):
    handled = service.app[HANDLED]
    subscription = service.app[SUBSCRIPTION]
    producer.publish(Drill(n=1))
    await wait_for(lambda: handled == [1], what="the first event is handled")
    bus = await nats.connect(nats_server.url)
    try:
        await bus.jetstream().delete_consumer(STREAM, "drill")  # its subscription fails
    finally:
        await bus.close()
    await wait_for(
        lambda: subscription.supervised.restarts >= 1, what="the consumer notices and restarts"
    )
    await wait_for(lambda: _is_ready(http, service), what="/readyz is 200 again")
    producer.publish(Drill(n=2))
    # A new durable starts from the stream's beginning: 1 comes again (handlers must take an
    # event twice; the catalog's does), then 2.
    await wait_for(lambda: 2 in handled, what=lambda: f"the next event is handled ({handled})")
    assert await restarts(http, service) >= 1


async def _is_ready(http, service):
    return (await readyz(http, service))[0] == 200
