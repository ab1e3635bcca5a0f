"""Token buckets per key, on a fake clock, with a bound on how many keys are kept."""

from reelcloud.gateway.ratelimit import TokenBuckets, retry_after


def test_take_says_how_long_to_wait_for_the_next_token(clock):
    buckets = TokenBuckets(rate_per_s=2.0, burst=1, clock=clock)
    assert buckets.take("a") == 0
    assert buckets.take("a") == 0.5
    clock.advance(0.2)
    assert abs(buckets.take("a") - 0.3) < 1e-9


def test_beyond_max_keys_the_least_recently_seen_key_is_forgotten(clock):
    buckets = TokenBuckets(rate_per_s=0.001, burst=1, clock=clock, max_keys=2)
    assert buckets.take("a") == 0
    assert buckets.take("b") == 0
    assert buckets.take("a") > 0  # a is seen again: b is now the least recent
    assert buckets.take("c") == 0  # a third key: b is forgotten
    assert buckets.take("a") > 0  # a kept its empty bucket
    assert buckets.take("b") == 0  # b starts over with a full one


def test_retry_after_is_whole_seconds_and_at_least_one():
    assert retry_after(0.01) == "1"
    assert retry_after(1.0) == "1"
    assert retry_after(1.01) == "2"
