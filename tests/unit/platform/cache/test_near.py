from reelcloud.platform.cache import Entry, NearCache


def test_an_entry_leaves_keep_s_after_it_was_written_not_after_it_arrived(clock):
    near = NearCache(clock=clock)
    near.put("k", Entry("v", written_at=clock.now() - 8), keep_s=10)
    clock.advance(1.9)
    assert near.get("k") == Entry("v", clock.now() - 9.9)
    clock.advance(0.1)
    assert near.get("k") is None
    assert len(near) == 0


def test_the_least_recently_used_entry_goes_first(clock):
    near = NearCache(max_entries=2, clock=clock)
    for key in ("a", "b"):
        near.put(key, Entry(key, clock.now()), keep_s=60)
    near.get("a")
    near.put("c", Entry("c", clock.now()), keep_s=60)
    assert near.get("b") is None
    assert near.get("a") is not None
    assert near.get("c") is not None


def test_an_older_answer_does_not_replace_a_newer_one(clock):
    near = NearCache(clock=clock)
    near.put("k", Entry("new", clock.now()), keep_s=60)
    near.put("k", Entry("old", clock.now() - 5), keep_s=60)
    assert near.get("k").value == "new"
