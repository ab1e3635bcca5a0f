from collections import Counter

import pytest

from reelcloud.platform.cache.memcached import parse_nodes
from reelcloud.platform.cache.ring import HashRing


def test_hash_ring_spreads_keys_and_moves_few_when_a_node_joins():
    keys = [f"key-{n}" for n in range(10_000)]
    two = HashRing(["a:1", "b:1"])
    spread = Counter(two.node_for(k) for k in keys)
    assert 0.4 < spread["a:1"] / len(keys) < 0.6
    three = HashRing(["a:1", "b:1", "c:1"])
    moved = sum(two.node_for(k) != three.node_for(k) for k in keys)
    assert 0.2 < moved / len(keys) < 0.45  # about a third, not everything
    assert all(three.node_for(k) == "c:1" for k in keys if two.node_for(k) != three.node_for(k))


def test_memcached_node_specs_are_parsed():
    assert parse_nodes("127.0.0.1:11211, h:2") == [("127.0.0.1", 11211), ("h", 2)]
    with pytest.raises(ValueError, match="host:port"):
        parse_nodes("nohost")
