"""The memcached nodes of one zone, keys spread by consistent hashing.

Built on aiomcache (asyncio, pooled connections per node). Every call has a timeout: reads fail
fast (20 ms by default, EVCache's read timeout), writes get longer (2.5 s). Errors surface as
`UnavailableError` so the replicated store above can count them and try another zone.
"""

from __future__ import annotations

import asyncio

import aiomcache

from reelcloud.platform.cache.ring import HashRing
from reelcloud.platform.errors import UnavailableError


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

    async def get(self, key: str) -> bytes | None:
        try:
            async with asyncio.timeout(self._read_timeout_s):
                value: bytes | None = await self._client(key).get(key.encode())
                return value
        except (OSError, TimeoutError, aiomcache.exceptions.ClientException) as exc:
            raise UnavailableError(f"memcached get failed: {type(exc).__name__}") from exc

    async def set(self, key: str, value: bytes, ttl_s: int) -> None:
        try:
            async with asyncio.timeout(self._write_timeout_s):
                await self._client(key).set(key.encode(), value, exptime=ttl_s)
        except (OSError, TimeoutError, aiomcache.exceptions.ClientException) as exc:
            raise UnavailableError(f"memcached set failed: {type(exc).__name__}") from exc

    async def delete(self, key: str) -> None:
        try:
            async with asyncio.timeout(self._write_timeout_s):
                await self._client(key).delete(key.encode())
        except (OSError, TimeoutError, aiomcache.exceptions.ClientException) as exc:
            raise UnavailableError(f"memcached delete failed: {type(exc).__name__}") from exc

    async def aclose(self) -> None:
        for client in self._clients.values():
            await client.close()
