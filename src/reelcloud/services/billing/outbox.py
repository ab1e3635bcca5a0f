"""Billing's events leave through an outbox: each is a row written in the same transaction as
the change it announces, and a relay publishes the rows to JetStream, marking them sent only
once the stream acknowledged them. A crash between the commit and the publish delays an event;
it never loses one, and it never announces a change that was rolled back.

Why not `platform.events.EventProducer`: its `publish()` hands an event to a buffer in
memory and returns, so a row marked sent after it could still die with the process. The relay
waits for JetStream's ack instead, and gives each message the outbox row's id as its
`Nats-Msg-Id`: an event sent again after a crash (acked, but not yet marked) is dropped by the
stream's duplicate window, so consumers see it once. The envelope is the platform's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

import nats
from nats.aio.client import Client as NatsClient

from reelcloud.platform.events.producer import ensure_stream
from reelcloud.platform.events.schema import Envelope, event_types
from reelcloud.services.billing.store import BillingStore

log = logging.getLogger(__name__)

PRODUCER = "billing"


class OutboxRelay:
    def __init__(
        self, store: BillingStore, nats_url: str, *, interval_s: float, batch: int = 500
    ) -> None:
        self.store = store
        self.nats_url = nats_url
        self.interval_s = interval_s
        self.batch = batch
        self.published = 0
        self._nc: NatsClient | None = None
        self._task: asyncio.Task[None] | None = None

    async def _connect(self) -> NatsClient:
        if self._nc is None or self._nc.is_closed:
            self._nc = await nats.connect(
                self.nats_url, connect_timeout=1, max_reconnect_attempts=-1, allow_reconnect=True
            )
        return self._nc

    async def flush(self) -> int:
        """Publish what is waiting, oldest first; how many were published."""
        rows = await self.store.unpublished(self.batch)
        if not rows:
            return 0
        nc = await self._connect()
        js = nc.jetstream()
        await ensure_stream(js)
        versions = {name: cls.event_version for name, cls in event_types().items()}
        sent = []
        for row_id, event_type, payload in rows:
            envelope = Envelope(
                id=f"{PRODUCER}-{row_id}",
                type=event_type,
                version=versions.get(event_type, 1),
                time=time.time(),
                producer=PRODUCER,
                seq=row_id,  # the outbox's order; a rolled-back transaction leaves a gap
                request_id=None,
                payload=payload,
            )
            await js.publish(
                envelope.subject, envelope.to_bytes(), headers={"Nats-Msg-Id": envelope.id}
            )
            sent.append(row_id)
        await self.store.mark_published(sent)
        self.published += len(sent)
        return len(sent)

    async def _loop(self) -> None:
        while True:
            try:
                while await self.flush() == self.batch:
                    pass
            except Exception as exc:  # NATS away: the rows wait in the outbox
                log.warning("billing events wait in the outbox: %s", exc)
            await asyncio.sleep(self.interval_s)

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="billing outbox")

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._nc is not None:
            with contextlib.suppress(Exception):
                await self._nc.close()
