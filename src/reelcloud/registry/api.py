"""The Eureka REST API over HTTP; every handler only translates to `InstanceRegistry` calls.

Mounted under `/eureka/` (Spring Cloud, py-eureka-client) and `/eureka/v2/` (Netflix's WAR).
Replies are JSON when the request accepts JSON and XML otherwise, gzipped when accepted. Reads
answer the documents Eureka does: `applications` for /apps, /apps/delta, /vips and /svips,
`application` for /apps/{APP}, `instance` for /apps/{APP}/{id} and /instances/{id}.
Every handler is marked with who may call it (`reads`, `owner`, `peers_only`; see `auth.py`).
"""

from __future__ import annotations

import asyncio
import gzip
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from aiohttp import web

from reelcloud.platform.app import STATE, create_service_app
from reelcloud.platform.clock import Clock, SystemClock
from reelcloud.platform.credentials import PEER_USER, basic_authorization, service_password
from reelcloud.platform.errors import BadRequestError, ReelcloudError
from reelcloud.platform.eureka import InstanceInfo, InstanceStatus, fields, json_codec, xml_codec
from reelcloud.platform.settings import Settings
from reelcloud.platform.topology import RegistryConfig
from reelcloud.registry.auth import AUTH, Access, RegistryAuth, guarded
from reelcloud.registry.models import (
    NewerInstanceConflict,
    ReadsRefusedError,
    ReplicationAction,
    ReplicationTask,
)
from reelcloud.registry.replication import (
    REPLICATION_HEADER,
    PeerReplicator,
    sync_from_peers,
    task_from_dict,
)
from reelcloud.registry.response_cache import Format, Key, ResponseCache
from reelcloud.registry.service import InstanceRegistry

log = logging.getLogger(__name__)

PREFIXES = ("/eureka", "/eureka/v2")


class RegistryServer:
    """The registry, its cache, its peers and its timers, owned by one app."""

    def __init__(
        self,
        config: RegistryConfig,
        peer_urls: list[str],
        clock: Clock | None = None,
        *,
        peer_authorization: str | None = None,
    ) -> None:
        self.config = config
        self.clock = clock or SystemClock()
        self.peer_urls = peer_urls
        # What this server carries to its peers (replication, start-up sync): PEER_USER's.
        self.peer_authorization = peer_authorization
        self.replicator = PeerReplicator(
            peer_urls,
            self.clock,
            connect_timeout_s=min(1.0, config.connect_timeout_s),
            read_timeout_s=min(5.0, config.read_timeout_s),
            authorization=peer_authorization,
        )
        self.registry = InstanceRegistry(config, self.clock, replicate=self.replicator.enqueue)
        self.replicator.bind(self.registry)
        self.cache = ResponseCache(
            self.registry,
            self.clock,
            expiry_s=config.response_cache_expiry_s,
            read_only_update_interval_s=config.response_cache_update_interval_s,
        )
        self.synced = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        await self.replicator.start()
        self._tasks = [
            asyncio.create_task(self._sync()),
            asyncio.create_task(self._eviction_loop()),
            self._every(self.config.delta_cleanup_interval_s, self.registry.clean_recent_changes),
            self._every(
                self.config.renewal_threshold_update_interval_s,
                self.registry.update_renewal_threshold,
            ),
        ]
        if self.config.response_cache_update_interval_s > 0:
            self._tasks.append(
                self._every(
                    self.config.response_cache_update_interval_s, self.cache.refresh_read_only
                )
            )

    async def aclose(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.replicator.aclose()

    async def _sync(self) -> None:
        count = await sync_from_peers(
            self.registry,
            self.peer_urls,
            retries=self.config.peer_sync_retries,
            retry_wait_s=self.config.peer_sync_retry_wait_s,
            connect_timeout_s=self.config.connect_timeout_s,
            read_timeout_s=self.config.read_timeout_s,
            authorization=self.peer_authorization,
        )
        self.registry.expected_clients = max(self.registry.expected_clients, count)
        self.registry.update_renewal_threshold()
        if count == 0 and self.config.wait_when_sync_empty_s > 0:
            self.registry.refuse_reads_for(self.config.wait_when_sync_empty_s)
        self.synced.set()

    async def _eviction_loop(self) -> None:
        interval = self.config.eviction_interval_s
        last = self.clock.monotonic()
        while True:
            await asyncio.sleep(interval)
            now = self.clock.monotonic()
            # If this timer ran late (a GC pause, a busy loop), leases got less time to renew:
            # give them the lost time back, as Eureka's compensation time does.
            compensation = max(0.0, now - last - interval)
            last = now
            try:
                self.registry.evict(additional_s=compensation)
            except Exception:
                log.exception("eviction pass failed")

    def _every(self, interval_s: float, action: Callable[[], None]) -> asyncio.Task[None]:
        async def loop() -> None:
            while True:
                await asyncio.sleep(interval_s)
                try:
                    action()
                except Exception:
                    log.exception("registry timer %s failed", action.__name__)

        return asyncio.create_task(loop())

    def status(self) -> dict[str, Any]:
        return {
            **self.registry.status(),
            "synced": self.synced.is_set(),
            "peers": self.replicator.status(),
            "response_cache": {"hits": self.cache.hits, "misses": self.cache.misses},
        }


SERVER = web.AppKey("registry_server", RegistryServer)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _wants(request: web.Request) -> tuple[Format, bool]:
    accept = request.headers.get("Accept", "")
    fmt = Format.JSON if "application/json" in accept else Format.XML
    return fmt, "gzip" in request.headers.get("Accept-Encoding", "")


def _reply(body: bytes, fmt: Format, gzipped: bool) -> web.Response:
    headers = {"Content-Type": fmt.value}
    if gzipped:
        headers["Content-Encoding"] = "gzip"
    return web.Response(body=body, headers=headers)


def _document(request: web.Request, kind: str) -> web.Response:
    """A cached document (all apps, delta, one app, a VIP), already gzipped when accepted."""
    server = request.app[SERVER]
    if not server.registry.reads_allowed():
        raise ReadsRefusedError(
            "registry is not serving reads yet: its start-up sync found nothing"
        )
    fmt, gzipped = _wants(request)
    return _reply(server.cache.get(Key(kind, fmt, gzipped)), fmt, gzipped)


def _instance_response(request: web.Request, instance: InstanceInfo) -> web.Response:
    # Not cached (Eureka reads instances from the registry too), but gzipped when accepted as
    # Eureka's GZIPContentEncodingFilter does for every response.
    fmt, gzipped = _wants(request)
    if fmt is Format.JSON:
        body = json_codec.encode_instance(instance)
    else:
        body = xml_codec.encode_instance(instance)
    return _reply(gzip.compress(body, compresslevel=5) if gzipped else body, fmt, gzipped)


def _is_replication(request: web.Request) -> bool:
    return request.headers.get(REPLICATION_HEADER, "").lower() == "true"


def _guard(access: Access) -> Callable[[Handler], Handler]:
    return guarded(access, is_replication=_is_replication)


reads = _guard(Access.READ)
owner = _guard(Access.OWNER)
peers_only = _guard(Access.PEER)


def _app(request: web.Request) -> str:
    return request.match_info["app"].upper()


def _dirty(request: web.Request) -> int | None:
    value = request.query.get("lastDirtyTimestamp")
    if value is None or value == "":
        return None
    if not value.isdigit():
        raise BadRequestError("lastDirtyTimestamp must be a number of milliseconds")
    return int(value)


async def _read_instance(request: web.Request) -> InstanceInfo:
    body = await request.read()
    if not body.strip():
        raise BadRequestError("empty body: expected an instance in JSON or XML")
    content_type = request.headers.get("Content-Type", "")
    if "json" in content_type:
        return json_codec.decode_instance(body)
    if "xml" in content_type or body.lstrip()[:1] == b"<":
        return xml_codec.decode_instance(body)
    return json_codec.decode_instance(body)


@owner
async def register(request: web.Request) -> web.Response:
    instance = await _read_instance(request)
    if instance.app != _app(request):
        raise BadRequestError(
            f"Mismatched appName, expecting {_app(request)} but was {instance.app}"
        )
    request.app[SERVER].registry.register(instance, replication=_is_replication(request))
    return web.Response(status=204)


@owner
async def renew(request: web.Request) -> web.Response:
    overridden = request.query.get("overriddenstatus")
    try:
        request.app[SERVER].registry.renew(
            _app(request),
            request.match_info["id"],
            replication=_is_replication(request),
            last_dirty_ts=_dirty(request),
            overridden_status=InstanceStatus.parse(overridden) if overridden else None,
        )
    except NewerInstanceConflict as conflict:
        return web.Response(
            status=409,
            body=json_codec.encode_instance(conflict.instance),
            content_type="application/json",
        )
    return web.Response(status=200)


@owner
async def cancel(request: web.Request) -> web.Response:
    request.app[SERVER].registry.cancel(
        _app(request), request.match_info["id"], replication=_is_replication(request)
    )
    return web.Response(status=200)


@owner
async def set_status(request: web.Request) -> web.Response:
    value = request.query.get("value", "")
    status = InstanceStatus.parse(value)
    if status is InstanceStatus.UNKNOWN:
        raise BadRequestError(f"value must be one of UP, DOWN, STARTING, OUT_OF_SERVICE: {value!r}")
    request.app[SERVER].registry.set_status_override(
        _app(request),
        request.match_info["id"],
        status,
        last_dirty_ts=_dirty(request),
        replication=_is_replication(request),
    )
    return web.Response(status=200)


@owner
async def delete_status(request: web.Request) -> web.Response:
    value = request.query.get("value")
    request.app[SERVER].registry.delete_status_override(
        _app(request),
        request.match_info["id"],
        InstanceStatus.parse(value) if value else InstanceStatus.UNKNOWN,
        last_dirty_ts=_dirty(request),
        replication=_is_replication(request),
    )
    return web.Response(status=200)


@owner
async def update_metadata(request: web.Request) -> web.Response:
    changes = fields.metadata(dict(request.query), "metadata")
    if not changes:
        raise BadRequestError("give the metadata to set as query parameters: ?key=value")
    request.app[SERVER].registry.update_metadata(_app(request), request.match_info["id"], changes)
    return web.Response(status=200)


@reads
async def all_apps(request: web.Request) -> web.Response:
    return _document(request, "apps")


@reads
async def delta(request: web.Request) -> web.Response:
    return _document(request, "delta")


@reads
async def one_app(request: web.Request) -> web.Response:
    return _document(request, f"app:{_app(request)}")


@reads
async def by_vip(request: web.Request) -> web.Response:
    return _document(request, f"vip:{request.match_info['vip']}")


@reads
async def by_svip(request: web.Request) -> web.Response:
    return _document(request, f"svip:{request.match_info['vip']}")


@reads
async def one_instance(request: web.Request) -> web.Response:
    instance = request.app[SERVER].registry.instance(_app(request), request.match_info["id"])
    return _instance_response(request, instance)


@reads
async def instance_by_id(request: web.Request) -> web.Response:
    instance = request.app[SERVER].registry.instance_by_id(request.match_info["id"])
    return _instance_response(request, instance)


@peers_only
async def replication_batch(request: web.Request) -> web.Response:
    try:
        doc = orjson.loads(await request.read())
    except orjson.JSONDecodeError as exc:
        raise BadRequestError(f"malformed JSON: {exc}") from exc
    items = doc.get("replicationList") if isinstance(doc, dict) else None
    if not isinstance(items, list):
        raise BadRequestError('body must be {"replicationList": [...]}')
    registry = request.app[SERVER].registry
    responses: list[dict[str, Any]] = []
    for raw in items:
        try:
            task = task_from_dict(raw)
            _apply_replicated(registry, task)
            responses.append({"statusCode": 200})
        except NewerInstanceConflict as conflict:
            responses.append(
                {
                    "statusCode": 409,
                    "responseEntity": json_codec.instance_to_dict(conflict.instance),
                }
            )
        except ReelcloudError as exc:
            responses.append({"statusCode": exc.status, "message": exc.message})
    return web.json_response({"responseList": responses}, dumps=lambda o: orjson.dumps(o).decode())


def _apply_replicated(registry: InstanceRegistry, task: ReplicationTask) -> None:
    if task.action is ReplicationAction.REGISTER:
        if task.instance is None:
            raise BadRequestError("Register needs instanceInfo")
        registry.register(task.instance, replication=True)
    elif task.action is ReplicationAction.HEARTBEAT:
        registry.renew(
            task.app,
            task.instance_id,
            replication=True,
            last_dirty_ts=task.last_dirty_ts,
            overridden_status=task.overridden_status,
        )
    elif task.action is ReplicationAction.CANCEL:
        registry.cancel(task.app, task.instance_id, replication=True)
    elif task.action is ReplicationAction.STATUS_UPDATE:
        registry.set_status_override(
            task.app,
            task.instance_id,
            task.status or InstanceStatus.UNKNOWN,
            last_dirty_ts=task.last_dirty_ts,
            replication=True,
        )
    else:
        registry.delete_status_override(
            task.app,
            task.instance_id,
            task.status or InstanceStatus.UNKNOWN,
            last_dirty_ts=task.last_dirty_ts,
            replication=True,
        )


@reads
async def registry_status(request: web.Request) -> web.Response:
    return web.json_response(request.app[SERVER].status())


def add_routes(app: web.Application) -> None:
    for prefix in PREFIXES:
        r = app.router
        r.add_get(f"{prefix}/status", registry_status)
        r.add_post(f"{prefix}/peerreplication/batch", replication_batch)
        r.add_get(f"{prefix}/apps", all_apps)
        r.add_get(f"{prefix}/apps/", all_apps)
        r.add_get(f"{prefix}/apps/delta", delta)
        r.add_get(f"{prefix}/apps/{{app}}", one_app)
        r.add_post(f"{prefix}/apps/{{app}}", register)
        r.add_get(f"{prefix}/apps/{{app}}/{{id}}", one_instance)
        r.add_put(f"{prefix}/apps/{{app}}/{{id}}", renew)
        r.add_delete(f"{prefix}/apps/{{app}}/{{id}}", cancel)
        r.add_put(f"{prefix}/apps/{{app}}/{{id}}/status", set_status)
        r.add_delete(f"{prefix}/apps/{{app}}/{{id}}/status", delete_status)
        r.add_put(f"{prefix}/apps/{{app}}/{{id}}/metadata", update_metadata)
        r.add_get(f"{prefix}/instances/{{id}}", instance_by_id)
        r.add_get(f"{prefix}/vips/{{vip}}", by_vip)
        r.add_get(f"{prefix}/svips/{{vip}}", by_svip)


def peer_urls_of(settings: Settings) -> list[str]:
    """Every registry peer but this one."""
    return [
        peer.url
        for peer in settings.topology.registry.peers
        if not (peer.host == settings.host and peer.port == settings.port)
    ]


def create_app(settings: Settings) -> web.Application:
    secret = settings.registry_secret.get_secret_value()
    auth = RegistryAuth(secret)  # refuses to start without a secret
    app = create_service_app(settings, fetch_registry=False)
    server = RegistryServer(
        settings.topology.registry,
        peer_urls_of(settings),
        peer_authorization=basic_authorization(PEER_USER, service_password(secret, PEER_USER)),
    )
    app[SERVER] = server
    app[AUTH] = auth
    discovery = app[STATE].discovery
    if discovery.authorization is None:
        # A registry server registers itself too; holding the secret, it can derive its own
        # credential when the launcher gave it none.
        user = settings.service
        discovery.authorization = basic_authorization(user, service_password(secret, user))

    async def synced() -> bool:
        return server.synced.is_set()

    app[STATE].readiness_checks.append(synced)

    async def lifecycle(app: web.Application) -> Any:
        await server.start()
        yield
        await server.aclose()

    app.cleanup_ctx.append(lifecycle)
    add_routes(app)
    return app
