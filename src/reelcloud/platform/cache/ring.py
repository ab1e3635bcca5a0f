"""Ketama consistent hashing, as spymemcached and EVCache place keys on memcached nodes.

Each node gets 160 points on a 32-bit ring (40 MD5 digests of "node-i", 4 points each); a key
belongs to the first point at or after its own hash. Adding or removing a node moves only the
keys between its points and their predecessors.
"""

from __future__ import annotations

import bisect
import hashlib

POINTS_PER_NODE = 160


def _digest(text: str) -> bytes:
    return hashlib.md5(text.encode(), usedforsecurity=False).digest()


class HashRing:
    def __init__(self, nodes: list[str], points_per_node: int = POINTS_PER_NODE) -> None:
        if not nodes:
            raise ValueError("a hash ring needs at least one node")
        ring: list[tuple[int, str]] = []
        for node in nodes:
            for i in range(points_per_node // 4):
                digest = _digest(f"{node}-{i}")
                for part in range(4):
                    point = int.from_bytes(digest[part * 4 : part * 4 + 4], "little")
                    ring.append((point, node))
        ring.sort()
        self._points = [point for point, _ in ring]
        self._nodes = [node for _, node in ring]

    def node_for(self, key: str) -> str:
        point = int.from_bytes(_digest(key)[:4], "little")
        index = bisect.bisect_left(self._points, point) % len(self._points)
        return self._nodes[index]
