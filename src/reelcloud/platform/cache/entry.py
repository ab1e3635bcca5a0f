"""A cached answer and when its dependency gave it.

Freshness is judged from `written_at` — the wall-clock time the dependency answered — by
every reader, in every process and zone, so an answer is fresh for the same `fresh_s`
wherever it is read (a near copy of a replica entry is not younger than the entry). In the
replicated store an entry is the value's bytes behind a small header: a format version and
`written_at`.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Generic, TypeVar

V = TypeVar("V")

_HEADER = struct.Struct(">Bd")  # format version, written_at (seconds since the epoch)
_VERSION = 1


@dataclass(frozen=True, slots=True)
class Entry(Generic[V]):
    value: V
    written_at: float

    def age_s(self, now: float) -> float:
        return now - self.written_at


def pack(written_at: float, payload: bytes) -> bytes:
    return _HEADER.pack(_VERSION, written_at) + payload


def unpack(data: bytes) -> tuple[float, bytes] | None:
    """(written_at, payload), or None for bytes this format did not write."""
    if len(data) < _HEADER.size:
        return None
    version, written_at = _HEADER.unpack_from(data)
    if version != _VERSION:
        return None
    return written_at, data[_HEADER.size :]
