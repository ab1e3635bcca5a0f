"""The contract every cache store implements."""

from __future__ import annotations

from typing import Protocol


class CacheStore(Protocol):
    async def get(self, key: str) -> bytes | None: ...

    async def set(self, key: str, value: bytes, ttl_s: int) -> None: ...

    async def delete(self, key: str) -> None: ...

    async def aclose(self) -> None: ...
