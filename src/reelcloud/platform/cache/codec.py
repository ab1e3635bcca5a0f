"""How a cached value becomes bytes and back, so lookups can keep protobuf answers or JSON.

A codec is a pair of plain functions. Protobuf messages keep their own wire format (a
dependency's answer is stored as it came, and an older or newer reader skips fields it does
not know); JSON is for plain data.
"""

from __future__ import annotations

from typing import Any, Generic, Protocol, TypeVar

import orjson

V = TypeVar("V")
M = TypeVar("M", bound="Message")


class Codec(Protocol[V]):
    def encode(self, value: V) -> bytes: ...

    def decode(self, data: bytes) -> V:
        """The value back; raises (any exception) when `data` is not one."""
        ...


class Message(Protocol):
    def SerializeToString(self) -> bytes: ...  # protobuf's spelling


class ProtobufCodec(Generic[M]):
    """A message class's own encoding: `SerializeToString` and `FromString`."""

    def __init__(self, message: type[M]) -> None:
        self.message = message

    def encode(self, value: M) -> bytes:
        return value.SerializeToString()

    def decode(self, data: bytes) -> M:
        decoded: M = self.message.FromString(data)  # type: ignore[attr-defined]
        return decoded


class JsonCodec:
    def encode(self, value: Any) -> bytes:
        return orjson.dumps(value)

    def decode(self, data: bytes) -> Any:
        return orjson.loads(data)
