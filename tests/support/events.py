"""Reading a JetStream stream back in tests: everything that arrived, and nothing more."""

from __future__ import annotations

from reelcloud.platform.events import Envelope, EventConsumer
from tests.support.waiting import wait_for


async def consume_all(
    url: str, durable: str, expected: int, *, timeout_s: float = 60
) -> list[Envelope]:
    """Every event a new durable consumer reads, once `expected` arrived and one more fetch
    found no more (so a duplicate shows as an extra event)."""
    consumer = EventConsumer(url, durable)
    await consumer.start()
    received: list[Envelope] = []
    try:

        async def all_arrived() -> bool:
            for envelope, message in await consumer.fetch(1000, timeout_s=1):
                received.append(envelope)
                await message.ack()
            return len(received) >= expected

        await wait_for(
            all_arrived,
            what=lambda: f"{expected} events arrive (got {len(received)})",
            timeout_s=timeout_s,
            interval_s=0,
        )
        received += [e for e, _ in await consumer.fetch(10, timeout_s=0.5)]  # nothing more
    finally:
        await consumer.aclose()
    return received
