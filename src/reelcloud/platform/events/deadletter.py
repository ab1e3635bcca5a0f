"""Events that can never be published, kept beside the spool so that they block nothing.

`<spool dir>/dead-letter.jsonl` holds one JSON object a line: when (`time`, Unix seconds), why
(`reason`, one of `Reason`, and a `message` for people), which event (`producer`, `subject`,
`id`, `bytes`) and the event itself (`event`: the envelope as it was queued, or `raw` text
when it was not even an envelope). An operator can read, fix and re-publish them by hand;
nothing reads the file back. Like the spool, it is private to the process's user (0600).
"""

from __future__ import annotations

import enum
import os
import time
from pathlib import Path

import orjson

from reelcloud.platform.events.metrics import EventMetrics

DEAD_LETTER_FILE = "dead-letter.jsonl"


class Reason(enum.StrEnum):
    """Why an event can never be published (the `reason` label of the counter)."""

    MAX_PAYLOAD = "max_payload"  # larger than the bus takes in one message
    INVALID_SUBJECT = "invalid_subject"  # not a subject NATS or the EVENTS stream accepts
    UNREADABLE = "unreadable"  # a spool line that is not an event envelope
    REFUSED = "refused"  # JetStream answered with a client error (4xx) for this message


def open_private(path: Path, flags: int) -> int:
    """A file descriptor on `path`, which is created readable by this user only."""
    return os.open(path, flags | os.O_CREAT, 0o600)


class DeadLetters:
    def __init__(self, directory: Path, producer_id: str, metrics: EventMetrics) -> None:
        self.path = directory / DEAD_LETTER_FILE
        self._producer = producer_id
        self._metrics = metrics
        self.count = 0

    def add(self, reason: Reason, message: str, subject: str, msg_id: str, data: bytes) -> None:
        record: dict[str, object] = {
            "time": time.time(),
            "reason": reason.value,
            "message": message,
            "producer": self._producer,
            "subject": subject,
            "id": msg_id,
            "bytes": len(data),
        }
        if reason is Reason.UNREADABLE:
            record["raw"] = data.decode("utf-8", "replace")
        else:
            record["event"] = orjson.Fragment(data)  # an envelope: JSON already
        line = orjson.dumps(record) + b"\n"
        descriptor = open_private(self.path, os.O_WRONLY | os.O_APPEND)
        try:
            view = memoryview(line)
            while view:  # a write to a regular file may still be partial
                view = view[os.write(descriptor, view) :]
        finally:
            os.close(descriptor)
        self.count += 1
        self._metrics.dead_lettered.labels(reason.value).inc()
