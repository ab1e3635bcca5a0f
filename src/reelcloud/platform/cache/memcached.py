"""The memcached nodes of one zone, keys spread by consistent hashing.

Built on aiomcache (asyncio, pooled connections per node). Every call has a timeout: reads fail
fast (20 ms by default, EVCache's read timeout), writes get longer (2.5 s). Errors surface as
`UnavailableError` so the replicated store above can count them and try another zone.

A call that times out (or is cancelled) while its reply is still on the way leaves aiomcache's
connection in the pool with that reply unread; the next call on it would read the old reply
as its own. Such a node's idle connections are closed, so the next call opens a clean one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

import aiomcache

from reelcloud.platform.cache.ring import HashRing
from reelcloud.platform.errors import UnavailableError

T = TypeVar("T")


def parse_nodes(spec: str) -> list[tuple[str, int]]:
    """`host:port,host:port` → [(host, port), ...]."""
    nodes = []
    for part in spec.split(","):
        host, _, port = part.strip().rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"memcached node {part!r} must look like host:port")
        nodes.append((host, int(port)))
    return nodes


class MemcachedStore:
    def __init__(
        self,
        nodes: list[tuple[str, int]],
        *,
        read_timeout_ms: float = 20,
        write_timeout_ms: float = 2500,
        pool_size: int = 4,
    ) -> None:
        names = [f"{host}:{port}" for host, port in nodes]
        self._ring = HashRing(names)
        self._clients = {
            f"{host}:{port}": aiomcache.Client(host, port, pool_size=pool_size)
            for host, port in nodes
        }
        self._read_timeout_s = read_timeout_ms / 1000
        self._write_timeout_s = write_timeout_ms / 1000

    def _client(self, key: str) -> aiomcache.Client:
        return self._clients[self._ring.node_for(key)]

    async def _run(
        self, client: aiomcache.Client, op: str, timeout_s: float, call: Awaitable[T]
    ) -> T:
        try:
            async with asyncio.timeout(timeout_s):
                return await call
        except TimeoutError as exc:  # before OSError: TimeoutError is one
            await client.close()  # the timed-out connection is back in the pool, unread
            message = f"memcached {op} timed out after {timeout_s * 1000:g} ms"
            raise UnavailableError(message) from exc
        except (OSError, aiomcache.exceptions.ClientException) as exc:
            raise UnavailableError(f"memcached {op} failed: {type(exc).__name__}") from exc
        except asyncio.CancelledError:
            await client.close()
            raise

    async def get(self, key: str) -> bytes | None:
        client = self._client(key)
        value: bytes | None = await self._run(
            client, "get", self._read_timeout_s, client.get(key.encode())
        )
        return value

    async def set(self, key: str, value: bytes, ttl_s: int) -> None:
        client = self._client(key)
        await self._run(
            client, "set", self._write_timeout_s, client.set(key.encode(), value, exptime=ttl_s)
        )

    async def delete(self, key: str) -> None:
        client = self._client(key)
        await self._run(client, "delete", self._write_timeout_s, client.delete(key.encode()))

    async def aclose(self) -> None:
        for client in self._clients.values():
            await client.close()
