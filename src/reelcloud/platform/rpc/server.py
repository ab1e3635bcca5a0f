"""The gRPC side of a service process."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as health_aio
from grpc_reflection.v1alpha import reflection

from reelcloud.platform import faults
from reelcloud.platform.database import database_unavailable
from reelcloud.platform.errors import ReelcloudError
from reelcloud.platform.logging import request_id_var
from reelcloud.platform.rpc.context import (
    ERROR_CODE_KEY,
    FAULT_KEY,
    REQUEST_ID_KEY,
    fault_header,
    inbound_deadline,
)
from reelcloud.platform.rpc.status import to_grpc

log = logging.getLogger(__name__)

AddServicer = Callable[[Any, grpc.aio.Server], None]


class _CallContextInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """Around every unary handler: set the request id, the deadline and the fault header for
    the calls it makes, inject the faults asked of this service (when enabled), and turn
    platform errors into status codes. A database that cannot be reached is UNAVAILABLE;
    anything else unexpected is logged and answered INTERNAL "internal error", so no
    exception text (a query, a path) crosses to the caller."""

    def __init__(self, service: str, fault_injection: bool) -> None:
        self.service = service
        self.fault_injection = fault_injection

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(details)
        if handler is None or handler.unary_unary is None:
            return handler
        inner = handler.unary_unary

        async def unary(request: Any, context: grpc.aio.ServicerContext) -> Any:
            metadata = {k: v for k, v in context.invocation_metadata() or ()}
            remaining = context.time_remaining()
            tokens = (
                request_id_var.set(str(metadata.get(REQUEST_ID_KEY) or uuid.uuid4().hex)),
                inbound_deadline.set(time.monotonic() + remaining if remaining else None),
                fault_header.set(metadata.get(FAULT_KEY)),
            )
            try:
                if self.fault_injection:
                    await faults.inject(self.service, metadata.get(FAULT_KEY))
                return await inner(request, context)
            except ReelcloudError as exc:
                context.set_trailing_metadata(((ERROR_CODE_KEY, exc.code),))
                await context.abort(to_grpc(exc), exc.message)
            except grpc.aio.AbortError:
                raise  # the handler aborted the call itself, with its own status
            except Exception as exc:
                unavailable = database_unavailable(exc, self.service or "service")
                if unavailable is not None:
                    log.warning("%s: %s: %r", details.method, unavailable.message, exc)
                    await context.abort(grpc.StatusCode.UNAVAILABLE, unavailable.message)
                log.exception("gRPC handler %s failed", details.method)
                await context.abort(grpc.StatusCode.INTERNAL, "internal error")
            finally:
                fault_header.reset(tokens[2])
                inbound_deadline.reset(tokens[1])
                request_id_var.reset(tokens[0])

        return grpc.unary_unary_rpc_method_handler(
            unary,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )


class RpcServer:
    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        service: str = "",
        fault_injection: bool = False,
    ) -> None:
        self.host = host
        self.port = port
        self.service = service
        self.fault_injection = fault_injection
        self._services: list[tuple[AddServicer, Any, str]] = []
        self._server: grpc.aio.Server | None = None
        self._health = health_aio.HealthServicer()

    def add(self, add_servicer: AddServicer, servicer: Any, full_name: str) -> None:
        """Serve `servicer` (added with its generated `add_XServicer_to_server`) as
        `full_name`, e.g. "reelcloud.catalog.v1.Catalog"."""
        self._services.append((add_servicer, servicer, full_name))

    def __bool__(self) -> bool:
        return bool(self._services)

    async def start(self) -> int:
        server = grpc.aio.server(
            interceptors=[_CallContextInterceptor(self.service, self.fault_injection)]
        )
        names = [
            reflection.SERVICE_NAME,
            health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
        ]
        for add_servicer, servicer, full_name in self._services:
            add_servicer(servicer, server)
            names.append(full_name)
            await self._health.set(full_name, health_pb2.HealthCheckResponse.SERVING)
        await self._health.set("", health_pb2.HealthCheckResponse.SERVING)
        health_pb2_grpc.add_HealthServicer_to_server(self._health, server)
        reflection.enable_server_reflection(names, server)
        self.port = server.add_insecure_port(f"{self.host}:{self.port}")
        await server.start()
        self._server = server
        log.info(
            "gRPC serving %s on %s:%d", [n for _, _, n in self._services], self.host, self.port
        )
        return self.port

    async def stop(self, grace_s: float) -> None:
        """Report NOT_SERVING, stop taking calls, let calls in flight finish within grace."""
        if self._server is None:
            return
        await self._health.enter_graceful_shutdown()
        await self._server.stop(grace_s)
        self._server = None
