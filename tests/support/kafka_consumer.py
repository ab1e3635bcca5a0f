"""A consumer-group member as its own process, so that a test can kill -9 it for real.

    python -m tests.support.kafka_consumer BOOTSTRAP TOPIC GROUP OUT_FILE

It consumes with the platform's consumer settings and "processes" each batch by writing it
durably to OUT_FILE, then commits; the file is what the test reads:

    A <partitions>           assigned (comma-separated)
    R <partitions>           revoked
    M <partition> <offset> <id>   one processed record, in blocks ended by
    P                        the end of a processed batch (a block cut short by a kill is
                             not processed: the test ignores it)
    C                        the batch before it committed
    E <error>                its commit was refused
    X                        closing (SIGTERM)
"""

from __future__ import annotations

import os
import signal
import sys
import time
from typing import IO

from confluent_kafka import Consumer, KafkaException, TopicPartition

from reelcloud.platform.kafka import consumer_config

BATCH = 50
# Each batch takes a while, so that a kill lands mid-topic rather than after it is all done.
WORK_S = 0.05


def main(bootstrap: str, topic: str, group: str, out_path: str) -> None:
    stopping: list[int] = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(1))
    with open(out_path, "a", buffering=1) as out:
        consumer = Consumer(consumer_config(bootstrap, group, f"member-{os.getpid()}"))

        def assigned(_: Consumer, partitions: list[TopicPartition]) -> None:
            _write(out, f"A {','.join(str(p.partition) for p in partitions)}\n")

        def revoked(_: Consumer, partitions: list[TopicPartition]) -> None:
            _write(out, f"R {','.join(str(p.partition) for p in partitions)}\n")

        consumer.subscribe([topic], on_assign=assigned, on_revoke=revoked)
        while not stopping:
            records = [m for m in consumer.consume(BATCH, 0.5) if m.error() is None]
            if not records:
                continue
            block = "".join(
                f"M {m.partition()} {m.offset()} {(m.key() or b'').decode()}\n" for m in records
            )
            _write(out, block + "P\n")  # processed means durable, before the commit
            time.sleep(WORK_S)
            try:
                consumer.commit(asynchronous=False)
            except KafkaException as exc:
                _write(out, f"E {exc}\n")
            else:
                _write(out, "C\n")
        _write(out, "X\n")
        consumer.close()


def _write(out: IO[str], text: str) -> None:
    out.write(text)
    out.flush()
    os.fsync(out.fileno())


if __name__ == "__main__":
    main(*sys.argv[1:5])
