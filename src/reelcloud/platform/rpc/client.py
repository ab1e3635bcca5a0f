"""Calling other services over gRPC: instance choice, channels, deadlines, metadata, errors."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any, Generic, TypeVar

import grpc

from reelcloud.platform.discovery import DiscoveryClient
from reelcloud.platform.errors import ConfigurationError, UnavailableError
from reelcloud.platform.eureka import InstanceInfo
from reelcloud.platform.logging import request_id_var
from reelcloud.platform.rpc.context import FAULT_KEY, REQUEST_ID_KEY, fault_header, inbound_deadline
from reelcloud.platform.rpc.status import DeadlineExceededError, from_grpc

S = TypeVar("S")
GRPC_PORT_KEY = "grpc.port"


def remaining_s() -> float | None:
    """Seconds the call being handled has left (None outside a call without deadline)."""
    deadline = inbound_deadline.get()
    return None if deadline is None else deadline - time.monotonic()


def outgoing_metadata() -> tuple[tuple[str, str], ...]:
    metadata = [(REQUEST_ID_KEY, request_id_var.get() or uuid.uuid4().hex)]
    fault = fault_header.get()
    if fault:
        metadata.append((FAULT_KEY, fault))
    return tuple(metadata)


async def call_with_deadline(
    method: grpc.aio.UnaryUnaryMultiCallable, request: Any, *, timeout_s: float, target: str
) -> Any:
    """One unary call that never gets more time than the current call has left, carries the
    request id and the fault-injection header, and raises platform errors."""
    left = remaining_s()
    timeout = timeout_s if left is None else min(timeout_s, left)
    if timeout <= 0:
        raise DeadlineExceededError(f"{target}: the caller's deadline has already passed")
    try:
        return await method(request, timeout=timeout, metadata=outgoing_metadata())
    except grpc.aio.AioRpcError as exc:
        raise from_grpc(exc, target) from exc


class RpcClient(Generic[S]):
    """Calls to one service: an instance chosen through discovery for every call, a channel
    kept per instance, and an instance dropped locally when connecting to it fails."""

    def __init__(
        self, discovery: DiscoveryClient, service: str, stub: Callable[[grpc.aio.Channel], S]
    ) -> None:
        self._discovery = discovery
        self.service = service
        self._stub_factory = stub
        self._channels: dict[str, tuple[str, grpc.aio.Channel, S]] = {}

    def _stub(self, instance: InstanceInfo) -> S:
        port = instance.metadata.get(GRPC_PORT_KEY)
        if not port:
            raise ConfigurationError(f"{instance.instance_id} registered no {GRPC_PORT_KEY}")
        target = f"{instance.ip_addr}:{port}"
        cached = self._channels.get(instance.instance_id)
        if cached is not None and cached[0] == target:
            return cached[2]
        channel = grpc.aio.insecure_channel(target)
        stub = self._stub_factory(channel)
        self._channels[instance.instance_id] = (target, channel, stub)
        return stub

    async def call(self, method: str, request: Any, *, timeout_s: float) -> Any:
        instance = self._discovery.choose(self.service)
        stub = self._stub(instance)
        target = f"{self.service}/{method}@{instance.instance_id}"
        try:
            return await call_with_deadline(
                getattr(stub, method), request, timeout_s=timeout_s, target=target
            )
        except UnavailableError as exc:
            cause = exc.__cause__
            if (
                isinstance(cause, grpc.aio.AioRpcError)
                and "connect" in (cause.details() or "").lower()
            ):
                self._discovery.mark_unreachable(instance)
            raise

    async def aclose(self) -> None:
        for _, channel, _ in self._channels.values():
            await channel.close()
        self._channels.clear()
