"""The load generator's pure parts: the network mix, the Zipf draw, tiers and percentiles."""

import random
from collections import Counter

import pytest
from tests.support.factories import openconnect_dict

from reelcloud.client.load import parse_mix, percentiles, tier_of, zipf_pick
from reelcloud.platform.errors import BadRequestError
from reelcloud.platform.topology import OpenConnectConfig


@pytest.fixture
def openconnect():
    return OpenConnectConfig.model_validate(openconnect_dict())


def test_the_network_mix_is_normalised_and_checked(openconnect):
    assert parse_mix("isp-a:2,isp-b:1,other:1", openconnect) == {
        "isp-a": 0.5, "isp-b": 0.25, "other": 0.25,
    }  # fmt: skip
    assert parse_mix("isp-b", openconnect) == {"isp-b": 1.0}
    for bad in ("isp-z:1", "isp-a:lots", "isp-a:-1", "isp-a:0", "", "isp-a:nan"):
        with pytest.raises(BadRequestError):
            parse_mix(bad, openconnect)


def test_zipf_draws_favour_the_most_popular_titles():
    titles = [{"id": f"t{i}", "popularity": p} for i, p in enumerate((10, 90, 50, 5))]
    rng = random.Random(1)
    drawn = Counter(zipf_pick(titles, rng)["id"] for _ in range(4000))
    assert [t for t, _ in drawn.most_common()] == ["t1", "t2", "t0", "t3"]
    assert drawn["t1"] / drawn["t2"] == pytest.approx(2, rel=0.15)  # 1/1 vs 1/2


def test_tiers_and_percentiles():
    assert tier_of({"kind": "embedded", "reason": "embedded"}) == "embedded"
    assert tier_of({"kind": "ixp", "reason": "fallback-ixp"}) == "ixp"
    assert tier_of({"kind": "ixp", "reason": "fallback-origin"}) == "origin"
    assert percentiles(list(range(1, 101)), 50, 99) == {"p50": 50, "p99": 99}
    assert percentiles([], 50) == {"p50": None}
