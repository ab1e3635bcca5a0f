import random

import pytest
from tests.support.factories import instance, registry_config

from reelcloud.platform.errors import NotFoundError
from reelcloud.platform.eureka import json_codec, xml_codec
from reelcloud.registry.rate import MeasuredRate
from reelcloud.registry.response_cache import Format, Key, ResponseCache
from reelcloud.registry.service import InstanceRegistry


def test_measured_rate_reports_the_last_complete_window(clock):
    rate = MeasuredRate(clock, 60)
    for _ in range(5):
        rate.increment()
    assert rate.last_window() == 0
    assert not rate.has_complete_window()
    clock.advance(60)
    assert rate.last_window() == 5
    rate.increment()
    clock.advance(120)  # a whole empty window passed
    assert rate.last_window() == 0


def _cache(clock, **config):
    registry = InstanceRegistry(registry_config(**config), clock, rng=random.Random(0))
    cache = ResponseCache(
        registry,
        clock,
        expiry_s=180,
        read_only_update_interval_s=config.get("response_cache_update_interval_s", 0),
    )
    return registry, cache


def test_full_fetch_is_built_once_until_the_registry_changes(clock):
    registry, cache = _cache(clock)
    registry.register(instance("CATALOG", 1))
    key = Key("apps", Format.JSON, False)
    first = cache.get(key)
    registry.renew("CATALOG", "host:catalog:1")
    assert cache.get(key) is first
    assert cache.misses == 1
    registry.register(instance("CATALOG", 2))
    assert len(json_codec.decode_applications(cache.get(key))) == 2


def test_cache_entries_expire(clock):
    _registry, cache = _cache(clock)
    key = Key("apps", Format.XML, False)
    cache.get(key)
    clock.advance(181)
    cache.get(key)
    assert cache.misses == 2


def test_read_only_layer_serves_stale_until_refreshed(clock):
    registry, cache = _cache(clock, response_cache_update_interval_s=30)
    key = Key("apps", Format.JSON, False)
    registry.register(instance("CATALOG", 1))
    assert len(json_codec.decode_applications(cache.get(key))) == 1
    registry.register(instance("CATALOG", 2))
    assert len(json_codec.decode_applications(cache.get(key))) == 1
    cache.refresh_read_only()
    assert len(json_codec.decode_applications(cache.get(key))) == 2


def test_one_app_key_serves_the_application_document(clock):
    registry, cache = _cache(clock)
    registry.register(instance("CATALOG", 1))
    registry.register(instance("PLAYBACK", 1))
    app = json_codec.decode_application(cache.get(Key("app:CATALOG", Format.JSON, False)))
    assert (app.name, list(app.instances)) == ("CATALOG", ["host:catalog:1"])
    xml = xml_codec.decode_application(cache.get(Key("app:CATALOG", Format.XML, False)))
    assert list(xml.instances) == ["host:catalog:1"]
    with pytest.raises(NotFoundError):
        cache.get(Key("app:NOPE", Format.JSON, False))


def test_read_only_refresh_forgets_a_gone_app_and_refreshes_the_rest(clock):
    registry, cache = _cache(clock, response_cache_update_interval_s=30)
    registry.register(instance("CATALOG", 1))
    registry.register(instance("PLAYBACK", 1))
    gone, apps = Key("app:PLAYBACK", Format.XML, False), Key("apps", Format.JSON, False)
    cache.get(gone)
    cache.get(apps)
    registry.cancel("PLAYBACK", "host:playback:1")
    cache.get(gone)  # stale until the refresh, as Eureka's read-only layer is
    cache.refresh_read_only()
    with pytest.raises(NotFoundError):
        cache.get(gone)
    assert [i.instance_id for i in json_codec.decode_applications(cache.get(apps))] == [
        "host:catalog:1"
    ]
