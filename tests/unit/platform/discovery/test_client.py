from reelcloud.platform.discovery.client import order_by_zone


def test_registry_urls_of_our_zone_come_first():
    peers = [("http://a/", "z1"), ("http://b/", "z2"), ("http://c/", "z2")]
    assert order_by_zone(peers, "z2") == ["http://b/", "http://c/", "http://a/"]
