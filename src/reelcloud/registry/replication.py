"""Peer replication: every change a client makes here is forwarded to every other peer.

One queue per peer, coalesced by (action, instance) as Eureka's task acceptor does, drained in
batches to `POST /peerreplication/batch`. A peer that is down keeps its queue (bounded; the
oldest tasks are dropped first and counted) and gets it when it returns. Replicated calls are
never replicated again, so two peers cannot loop.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson

from reelcloud.platform.clock import Clock
from reelcloud.platform.errors import BadRequestError
from reelcloud.platform.eureka import InstanceStatus, json_codec
from reelcloud.registry.models import ReplicationAction, ReplicationTask
from reelcloud.registry.service import InstanceRegistry

log = logging.getLogger(__name__)

REPLICATION_HEADER = "x-netflix-discovery-replication"


@dataclass
class PeerStats:
    sent: int = 0
    failed_batches: int = 0
    dropped: int = 0
    last_success_at: float = 0.0
    last_error: str = ""


@dataclass
class PeerNode:
    url: str  # ".../eureka/"
    queue: OrderedDict[tuple[str, str, str], ReplicationTask] = field(default_factory=OrderedDict)
    wakeup: asyncio.Event = field(default_factory=asyncio.Event)
    stats: PeerStats = field(default_factory=PeerStats)


def task_to_dict(task: ReplicationTask) -> dict[str, Any]:
    item: dict[str, Any] = {
        "appName": task.app,
        "id": task.instance_id,
        "action": task.action.value,
    }
    if task.last_dirty_ts is not None:
        item["lastDirtyTimestamp"] = str(task.last_dirty_ts)
    if task.status is not None:
        item["status"] = task.status.value
    if task.overridden_status is not None:
        item["overriddenStatus"] = task.overridden_status.value
    if task.instance is not None:
        item["instanceInfo"] = json_codec.instance_to_dict(task.instance)
    return item


def task_from_dict(raw: object) -> ReplicationTask:
    if not isinstance(raw, dict):
        raise BadRequestError("replication items must be objects")
    try:
        action = ReplicationAction(str(raw.get("action")))
    except ValueError:
        raise BadRequestError(f"unknown replication action {raw.get('action')!r}") from None
    instance_raw = raw.get("instanceInfo")
    instance = (
        json_codec.instance_from_dict(instance_raw) if isinstance(instance_raw, dict) else None
    )
    app = str(raw.get("appName") or (instance.app if instance else "")).upper()
    instance_id = str(raw.get("id") or (instance.instance_id if instance else ""))
    if not app or not instance_id:
        raise BadRequestError("replication items need appName and id")
    last_dirty = raw.get("lastDirtyTimestamp")
    return ReplicationTask(
        action=action,
        app=app,
        instance_id=instance_id,
        instance=instance,
        status=InstanceStatus.parse(raw["status"]) if raw.get("status") else None,
        overridden_status=(
            InstanceStatus.parse(raw["overriddenStatus"]) if raw.get("overriddenStatus") else None
        ),
        last_dirty_ts=int(str(last_dirty)) if str(last_dirty or "").isdigit() else None,
    )


class PeerReplicator:
    def __init__(
        self,
        peer_urls: list[str],
        clock: Clock,
        *,
        batch_size: int = 250,
        max_queue: int = 10_000,
        connect_timeout_s: float = 1.0,
        read_timeout_s: float = 5.0,
        authorization: str | None = None,
    ) -> None:
        self.peers = [PeerNode(url if url.endswith("/") else url + "/") for url in peer_urls]
        self._clock = clock
        self._batch_size = batch_size
        self._max_queue = max_queue
        self._timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=connect_timeout_s, sock_read=read_timeout_s
        )
        self._headers = {
            "Content-Type": "application/json",
            "Accept": "application/json",
            REPLICATION_HEADER: "true",
        }
        if authorization is not None:
            self._headers["Authorization"] = authorization
        self._registry: InstanceRegistry | None = None
        self._session: aiohttp.ClientSession | None = None
        self._tasks: list[asyncio.Task[None]] = []

    def bind(self, registry: InstanceRegistry) -> None:
        self._registry = registry

    def enqueue(self, task: ReplicationTask) -> None:
        for peer in self.peers:
            queue = peer.queue
            if task.action in (ReplicationAction.REGISTER, ReplicationAction.CANCEL):
                # A register or cancel decides the instance's fate: older tasks for it are moot.
                for stale in [k for k in queue if k[1:] == task.key[1:]]:
                    del queue[stale]
            queue.pop(task.key, None)  # keep the latest, at the end
            queue[task.key] = task
            while len(queue) > self._max_queue:
                queue.popitem(last=False)
                peer.stats.dropped += 1
            peer.wakeup.set()

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(timeout=self._timeout)
        self._tasks = [asyncio.create_task(self._drain(peer)) for peer in self.peers]

    async def aclose(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._session is not None:
            await self._session.close()

    def status(self) -> list[dict[str, Any]]:
        return [
            {
                "url": peer.url,
                "queued": len(peer.queue),
                "sent": peer.stats.sent,
                "failed_batches": peer.stats.failed_batches,
                "dropped": peer.stats.dropped,
                "last_success_at": peer.stats.last_success_at,
                "last_error": peer.stats.last_error,
            }
            for peer in self.peers
        ]

    async def _drain(self, peer: PeerNode) -> None:
        backoff_s = 0.5
        while True:
            await peer.wakeup.wait()
            peer.wakeup.clear()
            while peer.queue:
                batch = [
                    peer.queue.popitem(last=False)[1]
                    for _ in range(min(self._batch_size, len(peer.queue)))
                ]
                try:
                    responses = await self._post(peer, batch)
                except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
                    peer.stats.failed_batches += 1
                    peer.stats.last_error = f"{type(exc).__name__}: {exc}"[:200]
                    self._requeue(peer, batch)
                    await asyncio.sleep(backoff_s)
                    backoff_s = min(backoff_s * 2, 30.0)
                    continue
                backoff_s = 0.5
                peer.stats.sent += len(batch)
                peer.stats.last_success_at = self._clock.now()
                for task, response in zip(batch, responses, strict=False):
                    self._handle_response(task, response)

    def _requeue(self, peer: PeerNode, batch: list[ReplicationTask]) -> None:
        """Put failed tasks back in front, unless a newer task for the same key arrived."""
        pending = list(peer.queue.items())
        peer.queue.clear()
        for task in batch:
            if all(key != task.key for key, _ in pending):
                peer.queue[task.key] = task
        peer.queue.update(pending)
        while len(peer.queue) > self._max_queue:
            peer.queue.popitem(last=False)
            peer.stats.dropped += 1

    async def _post(self, peer: PeerNode, batch: list[ReplicationTask]) -> list[dict[str, Any]]:
        assert self._session is not None
        body = orjson.dumps({"replicationList": [task_to_dict(t) for t in batch]})
        async with self._session.post(
            peer.url + "peerreplication/batch",
            data=body,
            headers=self._headers,
        ) as response:
            if response.status != 200:
                raise ValueError(f"peer answered {response.status}")
            doc = orjson.loads(await response.read())
        responses = doc.get("responseList") if isinstance(doc, dict) else None
        if not isinstance(responses, list):
            raise ValueError("peer answered without a responseList")
        return responses

    def _handle_response(self, task: ReplicationTask, response: dict[str, Any]) -> None:
        registry = self._registry
        status = response.get("statusCode")
        if registry is None or status == 200:
            return
        if task.action is ReplicationAction.HEARTBEAT and status == 404:
            # The peer does not know the instance (it restarted, or it lost the register):
            # send it our copy, as Eureka's PeerEurekaNode does.
            try:
                instance = registry.instance(task.app, task.instance_id)
            except Exception:
                return
            self.enqueue(
                ReplicationTask(
                    ReplicationAction.REGISTER, task.app, task.instance_id, instance.copy()
                )
            )
        elif task.action is ReplicationAction.HEARTBEAT and status == 409:
            entity = response.get("responseEntity")
            if isinstance(entity, dict):
                newer = json_codec.instance_from_dict(entity.get("instance", entity))
                log.info("peer holds a newer copy of %s: adopting it", newer.instance_id)
                registry.register(newer, replication=True)
        elif status not in (404,):
            log.warning(
                "peer rejected %s of %s/%s with %s", task.action, task.app, task.instance_id, status
            )


async def sync_from_peers(
    registry: InstanceRegistry,
    peer_urls: list[str],
    *,
    retries: int,
    retry_wait_s: float,
    connect_timeout_s: float,
    read_timeout_s: float,
    authorization: str | None = None,
) -> int:
    """Copy the registry from the first peer that answers (Eureka's syncUp).

    Unlike Eureka, a peer that answers with an empty registry ends the retries: on one machine
    both peers start together and neither has anything yet.
    """
    if not peer_urls:
        return 0
    timeout = aiohttp.ClientTimeout(sock_connect=connect_timeout_s, sock_read=read_timeout_s)
    headers = {"Accept": "application/json"}
    if authorization is not None:
        headers["Authorization"] = authorization
    async with aiohttp.ClientSession(timeout=timeout) as session:
        for attempt in range(retries + 1):
            for url in peer_urls:
                try:
                    async with session.get(url.rstrip("/") + "/apps", headers=headers) as response:
                        if response.status != 200:
                            continue
                        applications = json_codec.decode_applications(await response.read())
                except (aiohttp.ClientError, TimeoutError, BadRequestError) as exc:
                    log.info("start-up sync from %s failed: %s", url, exc)
                    continue
                count = 0
                for instance in applications:
                    registry.register(instance, replication=True)
                    count += 1
                log.info("copied %d instances from peer %s", count, url)
                return count
            if attempt < retries:
                await asyncio.sleep(retry_wait_s)
    log.warning("no peer answered the start-up sync; starting with an empty registry")
    return 0
