"""The event producer: `publish()` never blocks; a sender task does the network and disk work.

One FIFO per producer, in two parts: the spool on disk (older) and the buffer in memory
(newer). While the spool holds anything, the sender moves the buffer onto its end before
replaying, so order is kept across any outage. A batch whose acks do not all arrive is spooled
again whole; JetStream drops the copies it already stored (same message ids).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections import deque
from pathlib import Path
from typing import Any

import nats
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import StreamConfig

from reelcloud.platform.events.schema import STREAM, SUBJECT_PREFIX, Envelope, EventPayload
from reelcloud.platform.events.spool import Spool
from reelcloud.platform.logging import request_id_var

log = logging.getLogger(__name__)

# Long enough that replaying a spool after an outage cannot store an event twice.
DUPLICATE_WINDOW_S = 30 * 60


async def ensure_stream(js: JetStreamContext) -> None:
    config = StreamConfig(
        name=STREAM, subjects=[f"{SUBJECT_PREFIX}.>"], duplicate_window=DUPLICATE_WINDOW_S
    )
    try:
        await js.stream_info(STREAM)
    except nats.js.errors.NotFoundError:
        await js.add_stream(config)


def _pack(subject: str, msg_id: str, data: bytes) -> bytes:
    """A queued event as one bytes object: the garbage collector never scans bytes, so a buffer
    of 100,000 events adds nothing to the collection pauses a caller can run into."""
    return b"%s\0%s\0%s" % (subject.encode(), msg_id.encode(), data)


def _unpack(item: bytes) -> tuple[str, str, bytes]:
    subject, msg_id, data = item.split(b"\0", 2)
    return subject.decode(), msg_id.decode(), data


def _from_spool(line: bytes) -> bytes:
    envelope = Envelope.from_bytes(line)
    return _pack(envelope.subject, envelope.id, line)


def _data(item: bytes) -> bytes:
    return _unpack(item)[2]


class EventProducer:
    def __init__(
        self,
        nats_url: str,
        *,
        producer_id: str,
        spool_dir: Path,
        buffer_size: int = 100_000,
        batch_size: int = 500,
        ack_timeout_s: float = 2.0,
        retry_wait_s: float = 0.5,
    ) -> None:
        self._url = nats_url
        self.producer_id = producer_id
        self._buffer: deque[bytes] = deque()
        self._buffer_size = buffer_size
        self._batch_size = batch_size
        self._ack_timeout_s = ack_timeout_s
        self._retry_wait_s = retry_wait_s
        self._spool = Spool(spool_dir)
        self._seq = 0
        self._wakeup = asyncio.Event()
        self._closing = False
        self._task: asyncio.Task[None] | None = None
        self._nc: NatsClient | None = None
        self._js: JetStreamContext | None = None
        self._inflight: list[bytes] = []  # taken from the buffer, not yet acknowledged
        self._acks: _AckCollector | None = None
        self.published = 0
        self.dropped = 0
        self.failed_batches = 0

    # ---- the caller's side: never waits --------------------------------------------------------

    def publish(self, event: EventPayload) -> str | None:
        """Queue an event; returns its id, or None if the buffer was full (counted)."""
        if len(self._buffer) >= self._buffer_size:
            self.dropped += 1
            return None
        envelope = Envelope(
            id=uuid.uuid4().hex,
            type=event.event_type,
            version=event.event_version,
            time=time.time(),
            producer=self.producer_id,
            seq=self._seq,
            request_id=request_id_var.get(),
            payload=event.model_dump(mode="json"),
        )
        self._seq += 1
        self._buffer.append(_pack(envelope.subject, envelope.id, envelope.to_bytes()))
        if len(self._buffer) >= self._batch_size:
            self._wakeup.set()
        return envelope.id

    @property
    def stats(self) -> dict[str, Any]:
        return {
            "published": self.published,
            "spooled": self._spool.spooled,
            "dropped": self.dropped,
            "buffered": len(self._buffer),
            "spool_pending": self._spool.pending(),
            "failed_batches": self.failed_batches,
            "connected": bool(self._nc and self._nc.is_connected),
        }

    # ---- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"events {self.producer_id}")

    async def aclose(self, *, drain_timeout_s: float = 5.0) -> None:
        """Publish what is buffered (or spool it), then stop."""
        self._closing = True
        self._wakeup.set()
        if self._task is not None:
            await asyncio.wait({self._task}, timeout=drain_timeout_s)
            if not self._task.done():
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
        # NATS did not take everything in time: keep the rest on disk, in order.
        left = self._inflight + list(self._buffer)
        self._inflight = []
        self._buffer.clear()
        if left:
            self._spool.append([_data(e) for e in left])
        if self._nc is not None:
            with contextlib.suppress(Exception):
                await self._nc.close()

    # ---- the sender ------------------------------------------------------------------------------

    async def _connect(self) -> bool:
        if self._nc is not None and self._nc.is_connected and self._js is not None:
            return True
        if self._nc is None or self._nc.is_closed:
            try:
                self._nc = await nats.connect(
                    self._url,
                    connect_timeout=1,
                    max_reconnect_attempts=-1,
                    reconnect_time_wait=self._retry_wait_s,
                    allow_reconnect=True,
                    error_cb=_quiet,
                    disconnected_cb=_quiet_event,
                    reconnected_cb=_quiet_event,
                )
            except Exception as exc:
                log.debug("NATS unreachable: %s", exc)
                self._nc = None
                return False
        if not self._nc.is_connected:
            return False
        try:
            self._js = self._nc.jetstream()
            await ensure_stream(self._js)
            if self._acks is None:
                self._acks = _AckCollector()
                await self._nc.subscribe(self._acks.prefix + ".*", cb=self._acks.on_ack)
        except Exception as exc:
            log.debug("JetStream not ready: %s", exc)
            return False
        return True

    async def _run(self) -> None:
        while True:
            if self._closing and not self._buffer and not self._spool.pending():
                return
            if not await self._connect():
                # Even when closing: aclose() bounds how long NATS gets to come back.
                await self._spool_buffer()
                await asyncio.sleep(self._retry_wait_s)
                continue
            if self._spool.pending():
                await self._spool_buffer()  # keep one FIFO: the buffer goes behind the spool
                lines, end = self._spool.read(self._batch_size)
                if await self._send([_from_spool(line) for line in lines]):
                    self._spool.commit(end)
                else:
                    await asyncio.sleep(self._retry_wait_s)
                continue
            if not self._buffer:
                self._wakeup.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wakeup.wait(), 0.005)
                continue
            count = min(self._batch_size, len(self._buffer))
            self._inflight = [self._buffer.popleft() for _ in range(count)]
            if await self._send(self._inflight):
                self._inflight = []
            else:
                # In order: the failed batch, then everything buffered after it.
                failed, self._inflight = self._inflight, []
                self._spool.append([_data(e) for e in failed])
                await self._spool_buffer()
                await asyncio.sleep(self._retry_wait_s)

    async def _spool_buffer(self) -> None:
        """Move the buffer onto the spool in batches, yielding between them: spool writes run on
        the event loop (a worker thread would take the GIL from callers for up to 5 ms at a
        time), so each step must be short."""
        while self._buffer:
            count = min(self._batch_size, len(self._buffer))
            self._spool.append([_data(self._buffer.popleft()) for _ in range(count)])
            await asyncio.sleep(0)

    async def _send(self, batch: list[bytes]) -> bool:
        """Publish a batch and wait for every ack; False if any is missing."""
        if not batch:
            return True
        assert self._nc is not None
        assert self._acks is not None
        # Plain publishes with a reply subject per message: JetStream answers each with an ack.
        # (nats-py's publish_async costs a timed semaphore wait per message; this is ~3x faster.)
        try:
            done = self._acks.expect(len(batch))
            for item in batch:
                subject, msg_id, data = _unpack(item)
                await self._nc.publish(
                    subject, data, reply=self._acks.reply_to(), headers={"Nats-Msg-Id": msg_id}
                )
            async with asyncio.timeout(self._ack_timeout_s):
                if not await done:
                    raise RuntimeError("JetStream refused an event")
        except Exception as exc:
            self.failed_batches += 1
            log.info("event batch of %d not acknowledged (%s); spooling", len(batch), exc)
            return False
        self.published += len(batch)
        return True


class _AckCollector:
    """Counts the acks of the batch in flight (one batch at a time)."""

    def __init__(self) -> None:
        self.prefix = f"_INBOX.events.{uuid.uuid4().hex}"
        self._serial = 0
        self._outstanding: set[str] = set()
        self._pending_count = 0
        self._ok = True
        self._done: asyncio.Future[bool] | None = None

    def expect(self, count: int) -> asyncio.Future[bool]:
        """A future that resolves once `count` acks arrived: True if none was an error."""
        self._outstanding = set()
        self._ok = True
        self._pending_count = count
        self._done = asyncio.get_running_loop().create_future()
        return self._done

    def reply_to(self) -> str:
        self._serial += 1
        token = str(self._serial)
        self._outstanding.add(token)
        return f"{self.prefix}.{token}"

    async def on_ack(self, msg: Msg) -> None:
        token = msg.subject.rpartition(".")[2]
        if token not in self._outstanding:
            return  # an ack for a batch that already timed out
        self._outstanding.discard(token)
        if b'"error"' in msg.data:
            self._ok = False
        self._pending_count -= 1
        if self._pending_count == 0 and self._done is not None and not self._done.done():
            self._done.set_result(self._ok)


async def _quiet(exc: Exception) -> None:
    log.debug("NATS: %s", exc)


async def _quiet_event() -> None:
    return None
