"""A durable pull consumer with explicit acks, for the pipeline's router and jobs."""

from __future__ import annotations

import contextlib

import nats
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig

from reelcloud.platform.events.producer import ensure_stream
from reelcloud.platform.events.schema import STREAM, SUBJECT_PREFIX, Envelope


class EventConsumer:
    def __init__(
        self, nats_url: str, durable: str, *, subject: str = f"{SUBJECT_PREFIX}.>"
    ) -> None:
        self._url = nats_url
        self.durable = durable
        self.subject = subject
        self._nc: NatsClient | None = None
        self._sub: JetStreamContext.PullSubscription | None = None

    async def start(self) -> None:
        self._nc = await nats.connect(self._url, connect_timeout=2)
        js = self._nc.jetstream()
        await ensure_stream(js)
        self._sub = await js.pull_subscribe(
            self.subject,
            durable=self.durable,
            stream=STREAM,
            config=ConsumerConfig(ack_policy=AckPolicy.EXPLICIT, max_ack_pending=20_000),
        )

    async def fetch(self, batch: int = 100, timeout_s: float = 1.0) -> list[tuple[Envelope, Msg]]:
        """Up to `batch` events; ack each (`await msg.ack()`) once handled."""
        assert self._sub is not None, "start() first"
        try:
            messages = await self._sub.fetch(batch, timeout=timeout_s)
        except TimeoutError:  # nats' own, and the bare asyncio one nats-py raises at times
            return []
        return [(Envelope.from_bytes(m.data), m) for m in messages]

    async def aclose(self) -> None:
        if self._nc is not None:
            with contextlib.suppress(Exception):
                await self._nc.close()
