"""Events to NATS JetStream (Keystone's front door): typed, never blocking a request.

`EventProducer.publish()` only appends to a bounded in-memory buffer; a background task
publishes in batches, moves events to an on-disk spool while NATS is unreachable, and replays
the spool in order when it returns. Every event carries an id used as JetStream's message id,
so a batch sent twice is stored once. An event that can never be published (larger than the
bus takes, or refused for good) goes to a dead-letter file beside the spool and the rest flow
on. Services consume with `EventSubscription`: a durable pull consumer, supervised
(restarted within 5 s of any failure, its state for `/readyz`), that gives up on a poison
event after a few deliveries instead of stopping on it. `EventConsumer` is the bare consumer.
"""

from reelcloud.platform.events.consumer import EventConsumer
from reelcloud.platform.events.deadletter import DEAD_LETTER_FILE, Reason
from reelcloud.platform.events.metrics import EventMetrics
from reelcloud.platform.events.producer import EventProducer, EventTooLargeError
from reelcloud.platform.events.schema import Envelope, EventPayload, decode, event_types
from reelcloud.platform.events.subscription import EventSubscription
from reelcloud.platform.events.supervisor import RestartBackoff, Supervised

__all__ = [
    "DEAD_LETTER_FILE",
    "Envelope",
    "EventConsumer",
    "EventMetrics",
    "EventPayload",
    "EventProducer",
    "EventSubscription",
    "EventTooLargeError",
    "Reason",
    "RestartBackoff",
    "Supervised",
    "decode",
    "event_types",
]
