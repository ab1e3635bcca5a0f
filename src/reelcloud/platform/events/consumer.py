"""A durable pull consumer with explicit acks (services consume through `EventSubscription`,
which supervises one of these; tests and tools read with it directly)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable

import nats
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig

from reelcloud.platform.errors import BadRequestError
from reelcloud.platform.events.producer import ensure_stream
from reelcloud.platform.events.schema import STREAM, SUBJECT_PREFIX, Envelope

log = logging.getLogger(__name__)

MAX_ACK_PENDING = 20_000


class EventConsumer:
    def __init__(
        self,
        nats_url: str,
        durable: str,
        *,
        subject: str | list[str] = f"{SUBJECT_PREFIX}.>",
        max_deliver: int = -1,
        ack_wait_s: float = 30.0,
        max_ack_pending: int = MAX_ACK_PENDING,
        on_connection: Callable[[bool], None] = lambda connected: None,
    ) -> None:
        self._url = nats_url
        self.durable = durable
        subjects = [subject] if isinstance(subject, str) else subject
        self.subject = ",".join(subjects)
        self._config = ConsumerConfig(
            name=durable,
            durable_name=durable,
            filter_subject=subjects[0] if len(subjects) == 1 else None,
            filter_subjects=subjects if len(subjects) > 1 else None,
            ack_policy=AckPolicy.EXPLICIT,
            max_ack_pending=max_ack_pending,
            max_deliver=max_deliver,  # the server's own stop, should the reader die each time
            ack_wait=ack_wait_s,
        )
        self._on_connection = on_connection  # told when NATS goes away and comes back
        self._nc: NatsClient | None = None
        self._sub: JetStreamContext.PullSubscription | None = None

    async def _disconnected(self) -> None:
        self._on_connection(False)

    async def _reconnected(self) -> None:
        self._on_connection(True)

    @property
    def connected(self) -> bool:
        return self._nc is not None and self._nc.is_connected

    async def start(self) -> None:
        self._nc = await nats.connect(
            self._url,
            connect_timeout=2,
            max_reconnect_attempts=-1,
            reconnect_time_wait=0.5,
            error_cb=_quiet,
            disconnected_cb=self._disconnected,
            reconnected_cb=self._reconnected,
        )
        js = self._nc.jetstream()
        await ensure_stream(js)
        try:
            # Create, or bring an existing durable to this config: one made by an older
            # version (another filter, no max_deliver) would otherwise be used as it is.
            await js.add_consumer(STREAM, self._config)
        except nats.js.errors.APIError as exc:  # a change NATS cannot make in place
            log.warning("consumer %s kept as it is on the server: %s", self.durable, exc)
        self._sub = await js.pull_subscribe_bind(
            self.durable, stream=STREAM, durable=self.durable, name=self.durable
        )

    async def fetch_messages(self, batch: int = 100, timeout_s: float = 1.0) -> list[Msg]:
        """Up to `batch` messages, [] when none came within `timeout_s`."""
        assert self._sub is not None, "start() first"
        try:
            return await self._sub.fetch(batch, timeout=timeout_s)
        except TimeoutError:  # nats' own, and the bare asyncio one nats-py raises at times
            return []

    async def fetch(self, batch: int = 100, timeout_s: float = 1.0) -> list[tuple[Envelope, Msg]]:
        """Up to `batch` events; ack each (`await msg.ack()`) once handled. A message that is
        no event envelope can never be read: it is terminated (not redelivered) and skipped."""
        events = []
        for message in await self.fetch_messages(batch, timeout_s):
            try:
                events.append((Envelope.from_bytes(message.data), message))
            except BadRequestError as exc:
                log.error(
                    "consumer %s: a message that is no event (%s): terminated", self.durable, exc
                )
                await message.term()
        return events

    async def pending(self) -> int | None:
        """Events of the stream this consumer has not acknowledged yet (None: no answer)."""
        if self._sub is None:
            return None
        try:
            info = await self._sub.consumer_info()
        except (nats.errors.Error, TimeoutError):
            return None
        return int(info.num_pending or 0) + int(info.num_ack_pending or 0)

    async def aclose(self) -> None:
        if self._nc is not None:
            with contextlib.suppress(Exception):
                await self._nc.close()


async def _quiet(exc: Exception) -> None:
    log.debug("NATS: %s", exc)
