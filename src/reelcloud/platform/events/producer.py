"""The event producer: `publish()` never blocks; a sender task does the network and disk work.

One FIFO per producer, in two parts: the spool on disk (older) and the buffer in memory
(newer). While the spool holds anything, the sender moves the buffer onto its end before
replaying, so order is kept across any outage.

Every message of a batch has its own outcome, so no event can hold the others back:

    acknowledged                      done
    permanent (never publishable)     moved to the dead-letter file, counted; the rest go on
      larger than the bus's max payload, a subject NATS refuses, a spool line that is no
      envelope, a JetStream client error (4xx) in its ack
    transient (may work later)        it and everything after it are sent again, after
      no responders (no stream yet),  `retry_wait_s`; JetStream drops the copies it already
      no ack in time, disconnected    stored (same message ids), so nothing is doubled

`publish()` itself refuses an event larger than the bus takes (`EventTooLargeError`): the
limit is the server's `max_payload` (from its INFO) capped by `max_payload_bytes`, headers
included, since NATS counts them and closes the connection of a client that sends more.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import re
import time
import uuid
from collections import deque
from pathlib import Path
from typing import Any

import nats
import orjson
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import StreamConfig

from reelcloud.platform.errors import PayloadTooLargeError, ReelcloudError
from reelcloud.platform.events.deadletter import DeadLetters, Reason
from reelcloud.platform.events.metrics import EventMetrics
from reelcloud.platform.events.schema import STREAM, SUBJECT_PREFIX, Envelope, EventPayload
from reelcloud.platform.events.spool import Spool
from reelcloud.platform.logging import request_id_var

log = logging.getLogger(__name__)

# Long enough that replaying a spool after an outage cannot store an event twice.
DUPLICATE_WINDOW_S = 30 * 60
# NATS' own default max payload; a server configured higher is still held to this.
DEFAULT_MAX_PAYLOAD_BYTES = 1024 * 1024
# How long the sender waits for more events after the first, to send them as one batch.
LINGER_S = 0.005

_SUBJECT = re.compile(rf"^{SUBJECT_PREFIX}(\.[a-z][a-z0-9_]*){{2,}}$")
_MSG_ID = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
# What nats-py puts before the payload for our one header: "NATS/1.0\r\nNats-Msg-Id: <id>\r\n\r\n"
_HEADER_BYTES = len(b"NATS/1.0\r\nNats-Msg-Id: \r\n\r\n")

Outgoing = tuple[str, str, bytes]  # subject, message id, envelope bytes


class EventTooLargeError(PayloadTooLargeError):
    """An event larger than the bus takes in one message: it could never be published."""

    code = "event_too_large"


async def ensure_stream(js: JetStreamContext) -> None:
    config = StreamConfig(
        name=STREAM, subjects=[f"{SUBJECT_PREFIX}.>"], duplicate_window=DUPLICATE_WINDOW_S
    )
    try:
        await js.stream_info(STREAM)
    except nats.js.errors.NotFoundError:
        await js.add_stream(config)


def wire_bytes(msg_id: str, data: bytes) -> int:
    """What NATS counts against its max payload: the headers and the payload."""
    return _HEADER_BYTES + len(msg_id) + len(data)


def _pack(subject: str, msg_id: str, data: bytes) -> bytes:
    """A queued event as one bytes object: the garbage collector never scans bytes, so a buffer
    of 100,000 events adds nothing to the collection pauses a caller can run into."""
    return b"%s\0%s\0%s" % (subject.encode(), msg_id.encode(), data)


def _unpack(item: bytes) -> Outgoing:
    subject, msg_id, data = item.split(b"\0", 2)
    return subject.decode(), msg_id.decode(), data


def _from_spool(line: bytes) -> Outgoing:
    """A spooled event; one that is not an envelope keeps no subject (dead-lettered as
    unreadable)."""
    try:
        envelope = Envelope.from_bytes(line)
        subject, msg_id = envelope.subject, envelope.id
    except (ReelcloudError, TypeError, ValueError):
        return "", "", line
    if not isinstance(msg_id, str) or not _MSG_ID.match(msg_id):
        return "", "", line  # an id that could not even be a header value
    return subject, msg_id, line


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
        max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES,
        metrics: EventMetrics | None = None,
    ) -> None:
        self._url = nats_url
        self.producer_id = producer_id
        self._buffer: deque[bytes] = deque()
        self._buffer_size = buffer_size
        self._batch_size = batch_size
        self._ack_timeout_s = ack_timeout_s
        self._retry_wait_s = retry_wait_s
        self._max_payload_cap = max_payload_bytes
        self.max_event_bytes = max_payload_bytes  # the server's limit once it is known
        self.metrics = metrics if metrics is not None else EventMetrics()
        self._spool = Spool(spool_dir)
        self.dead_letters = DeadLetters(spool_dir, producer_id, self.metrics)
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
        """Queue an event; returns its id, or None if the buffer was full (counted).

        EventTooLargeError for an event the bus could never take: the caller's input was not
        bounded, and queueing it would only move the problem to the dead-letter file."""
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
        data = envelope.to_bytes()
        size = wire_bytes(envelope.id, data)
        if size > self.max_event_bytes:
            raise EventTooLargeError(
                f"a {envelope.type} event of {size} bytes is larger than the event bus takes "
                f"({self.max_event_bytes} bytes)"
            )
        self._seq += 1
        self._buffer.append(_pack(envelope.subject, envelope.id, data))
        # The sender sleeps while nothing is buffered: the first event wakes it, and a full
        # batch ends its linger early.
        if len(self._buffer) == 1 or len(self._buffer) >= self._batch_size:
            self._wakeup.set()
        return envelope.id

    @property
    def stats(self) -> dict[str, Any]:
        return {
            "published": self.published,
            "spooled": self._spool.spooled,
            "dropped": self.dropped,
            "dead_lettered": self.dead_letters.count,
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
        self.max_event_bytes = min(self._max_payload_cap, self._nc.max_payload)  # INFO's
        try:
            self._js = self._nc.jetstream()
            await ensure_stream(self._js)
            if self._acks is None:
                self._acks = _AckCollector()
                await self._nc.subscribe(self._acks.prefix + ".*.*", cb=self._acks.on_ack)
        except Exception as exc:
            log.debug("JetStream not ready: %s", exc)
            self._js = None
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
                entries = self._spool.read(self._batch_size)
                done = await self._send([_from_spool(line) for line, _ in entries])
                if done:
                    self._spool.commit(entries[done - 1][1])
                if done < len(entries) or not entries:  # none: a line being torn; no spin
                    await asyncio.sleep(self._retry_wait_s)
                continue
            if not self._buffer:
                # Idle without a timer (a 5 ms poll cost every process ~0.02 cores at rest).
                self._wakeup.clear()
                await self._wakeup.wait()
                if len(self._buffer) < self._batch_size and not self._closing:
                    # Linger a moment, so a burst goes out as one batch rather than one by one.
                    self._wakeup.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wakeup.wait(), LINGER_S)
                continue
            count = min(self._batch_size, len(self._buffer))
            self._inflight = [self._buffer.popleft() for _ in range(count)]
            done = await self._send([_unpack(item) for item in self._inflight])
            # No await between _send's dead-lettering and here: a cancel cannot spool a
            # dead-lettered event again.
            failed, self._inflight = self._inflight[done:], []
            if failed:
                # In order: what must be sent again, then everything buffered after it.
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

    def _refusal(self, subject: str, msg_id: str, data: bytes) -> tuple[Reason, str] | None:
        """Why this event can never be published, checked before sending it."""
        if not subject:
            return Reason.UNREADABLE, "not an event envelope"
        if not _SUBJECT.match(subject):
            return Reason.INVALID_SUBJECT, f"subject {subject[:100]!r} is not an event's"
        size = wire_bytes(msg_id, data)
        if size > self.max_event_bytes:
            return Reason.MAX_PAYLOAD, f"{size} bytes; the bus takes {self.max_event_bytes}"
        return None

    async def _send(self, batch: list[Outgoing]) -> int:
        """Publish a batch; returns how many of its events, from the first, are done (published
        or dead-lettered). The rest must be sent again."""
        if not batch:
            return 0
        assert self._nc is not None
        assert self._acks is not None
        self.max_event_bytes = min(self._max_payload_cap, self._nc.max_payload)  # INFO's
        outcomes: list[_Outcome | None] = [None] * len(batch)
        # Plain publishes with a reply subject per message: JetStream answers each with an ack.
        # (nats-py's publish_async costs a timed semaphore wait per message; this is ~3x faster.)
        done = self._acks.expect(outcomes)
        for index, (subject, msg_id, data) in enumerate(batch):
            refusal = self._refusal(subject, msg_id, data)
            if refusal is not None:
                outcomes[index] = _Outcome(_Kind.PERMANENT, *refusal)
                continue
            try:
                await self._nc.publish(
                    subject, data, reply=self._acks.reply_to(index), headers={"Nats-Msg-Id": msg_id}
                )
            except nats.errors.MaxPayloadError:
                outcomes[index] = _Outcome(_Kind.PERMANENT, Reason.MAX_PAYLOAD, "nats refused")
            except (nats.errors.BadSubjectError, nats.errors.BadHeaderError) as exc:
                outcomes[index] = _Outcome(_Kind.PERMANENT, Reason.INVALID_SUBJECT, str(exc))
            except Exception as exc:  # the connection: this one and the rest go again
                outcomes[index] = _Outcome(_Kind.TRANSIENT, None, f"not sent: {exc!r}")
                break
        self._acks.sent()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self._ack_timeout_s):
                await done
        return self._settle(batch, outcomes)

    def _settle(self, batch: list[Outgoing], outcomes: list[_Outcome | None]) -> int:
        """Dead-letter the permanent failures up to the first transient one; no awaits here."""
        for index, outcome in enumerate(outcomes):
            if outcome is None or outcome.kind is _Kind.TRANSIENT:
                why = "no ack in time" if outcome is None else outcome.message
                self.failed_batches += 1
                if outcome is not None and outcome.no_responders:
                    self._js = None  # the stream may be gone: ensure it before the next try
                log.info(
                    "events %d-%d of a batch of %d not acknowledged (%s); sending them again",
                    index, len(batch) - 1, len(batch), why,
                )  # fmt: skip
                return index
            if outcome.kind is _Kind.PERMANENT:
                assert outcome.reason is not None
                subject, msg_id, data = batch[index]
                self.dead_letters.add(outcome.reason, outcome.message, subject, msg_id, data)
                log.warning(
                    "event %s (%s, %d bytes) can never be published (%s: %s); moved to %s",
                    msg_id or "?", subject or "?", len(data), outcome.reason.value,
                    outcome.message, self.dead_letters.path,
                )  # fmt: skip
            else:
                self.published += 1
        return len(batch)


class _Kind(enum.Enum):
    OK = "ok"
    PERMANENT = "permanent"
    TRANSIENT = "transient"


class _Outcome:
    __slots__ = ("kind", "message", "no_responders", "reason")

    def __init__(
        self, kind: _Kind, reason: Reason | None, message: str, *, no_responders: bool = False
    ) -> None:
        self.kind = kind
        self.reason = reason
        self.message = message
        self.no_responders = no_responders


_OK = _Outcome(_Kind.OK, None, "")


def ack_outcome(msg: Msg) -> _Outcome:
    """What JetStream said of one published message."""
    status = (msg.headers or {}).get("Status")
    if status:  # "503": no stream listens on the subject (yet)
        return _Outcome(
            _Kind.TRANSIENT, None, f"status {status} (no stream?)", no_responders=status == "503"
        )
    if b'"error"' not in msg.data:
        return _OK
    try:
        error = orjson.loads(msg.data)["error"]
        code, description = int(error.get("code", 0)), str(error.get("description", ""))
        err_code = error.get("err_code")
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
        return _Outcome(_Kind.TRANSIENT, None, "an ack that is not JetStream's")
    message = f"JetStream {code}/{err_code}: {description}"
    if 400 <= code < 500 and code not in (408, 429):  # the message itself: it never will be
        return _Outcome(_Kind.PERMANENT, Reason.REFUSED, message)
    return _Outcome(_Kind.TRANSIENT, None, message)  # the server's state: it may pass


class _AckCollector:
    """Collects the acks of the batch in flight (one batch at a time), each into its slot."""

    def __init__(self) -> None:
        self.prefix = f"_INBOX.events.{uuid.uuid4().hex}"
        self._batch = 0
        self._outcomes: list[_Outcome | None] = []
        self._waiting = 0
        self._sending = False
        self._done: asyncio.Future[None] | None = None

    def expect(self, outcomes: list[_Outcome | None]) -> asyncio.Future[None]:
        """A future that resolves once every message sent (`reply_to`) has its ack."""
        self._batch += 1
        self._outcomes = outcomes
        self._waiting = 0
        self._sending = True
        self._done = asyncio.get_running_loop().create_future()
        return self._done

    def reply_to(self, index: int) -> str:
        self._waiting += 1
        return f"{self.prefix}.{self._batch}.{index}"

    def sent(self) -> None:
        """Every message of the batch is out: the future may resolve."""
        self._sending = False
        self._maybe_done()

    def _maybe_done(self) -> None:
        if not self._sending and self._waiting == 0 and self._done and not self._done.done():
            self._done.set_result(None)

    async def on_ack(self, msg: Msg) -> None:
        _, batch, index = msg.subject.rsplit(".", 2)
        if batch != str(self._batch):
            return  # an ack for a batch that already timed out
        slot = int(index)
        if self._outcomes[slot] is not None:
            return  # a second answer to one message
        self._outcomes[slot] = ack_outcome(msg)
        self._waiting -= 1
        self._maybe_done()


async def _quiet(exc: Exception) -> None:
    log.debug("NATS: %s", exc)


async def _quiet_event() -> None:
    return None
