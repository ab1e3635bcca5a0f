"""A test service spoken to over gRPC: each hop records the deadline, request id and fault
header it received, then calls the next hop (optionally through a resilience command).

Its stubs (relay_pb2*) are generated from tests/proto by the `relay_stubs` fixture."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from reelcloud.platform.app import STATE, create_service_app
from reelcloud.platform.errors import NotFoundError
from reelcloud.platform.logging import request_id_var
from reelcloud.platform.rpc import RpcClient, remaining_s
from reelcloud.platform.rpc.context import fault_header
from reelcloud.platform.settings import Settings


def create_app(settings: Settings) -> web.Application:
    import relay_pb2
    import relay_pb2_grpc

    app = create_service_app(settings)
    state = app[STATE]
    clients: dict[str, RpcClient[Any]] = {}

    def client(service: str) -> RpcClient[Any]:
        if service not in clients:
            clients[service] = RpcClient(state.discovery, service, relay_pb2_grpc.RelayStub)
        return clients[service]

    class Relay(relay_pb2_grpc.RelayServicer):  # type: ignore[misc]
        async def Call(self, request: Any, context: Any) -> Any:
            left = remaining_s()
            hop = relay_pb2.Hop(
                instance=settings.service,
                remaining_s=-1 if left is None else left,
                request_id=request_id_var.get() or "",
                fault=fault_header.get() or "",
            )
            if not request.hops:
                await asyncio.sleep(request.sleep_ms / 1000)
                if request.fail == "not_found":
                    raise NotFoundError("no such relay")
                return relay_pb2.CallResponse(hops=[hop])
            following = relay_pb2.CallRequest(
                hops=request.hops[1:],
                sleep_ms=request.sleep_ms,
                fail=request.fail,
                next_timeout_ms=request.next_timeout_ms,
            )
            target = request.hops[0]

            async def forward() -> Any:
                return await client(target).call(
                    "Call", following, timeout_s=(request.next_timeout_ms or 10_000) / 1000
                )

            if request.use_command:
                response = await state.commands.execute(
                    f"relay.{target}",
                    forward,
                    group=target,
                    fallbacks=[
                        lambda: relay_pb2.CallResponse(hops=[relay_pb2.Hop(via="fallback")])
                    ],
                )
            else:
                response = await forward()
            return relay_pb2.CallResponse(hops=[hop, *response.hops])

    full_name = relay_pb2.DESCRIPTOR.services_by_name["Relay"].full_name
    state.rpc.add(relay_pb2_grpc.add_RelayServicer_to_server, Relay(), full_name)

    async def close_clients(_: web.Application) -> None:
        for c in clients.values():
            await c.aclose()

    app.on_cleanup.append(close_clients)
    return app
