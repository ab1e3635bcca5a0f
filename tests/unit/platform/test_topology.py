import pytest
from tests.support.factories import topology_dict, write_topology

from reelcloud.platform.errors import ConfigurationError
from reelcloud.platform.topology import load_topology


def test_the_packaged_topology_loads_with_eureka_defaults():
    topology = load_topology()
    assert [p.port for p in topology.registry.peers] == [8761, 8762]
    assert topology.registry.lease_renewal_interval_s == 30
    assert topology.registry.lease_duration_s == 90


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.update(zones=[]), "zones"),
        (lambda d: d["registry"].update(peers=[]), "peers"),
        (lambda d: d["registry"].update(lease_duration_s=1), "longer than"),
        (lambda d: d["registry"]["peers"][0].update(zone="mars"), "mars"),
        (lambda d: d.update(services=[{"name": "Bad Name!", "entrypoint": "a:b"}]), "lower-case"),
        (lambda d: d.update(services=[{"name": "x", "entrypoint": "nocolon"}]), "module:function"),
        (lambda d: d.update(services=[{"name": "registry", "entrypoint": "a:b"}]), "reserved"),
        (lambda d: d.update(surprise=1), "surprise"),
        (
            lambda d: d.update(
                services=[{"name": "x", "entrypoint": "a:b"}, {"name": "x", "entrypoint": "a:b"}]
            ),
            "twice",
        ),
    ],
)
def test_bad_topologies_are_refused_with_the_place_named(tmp_path, mutate, message):
    doc = topology_dict([8761])
    mutate(doc)
    with pytest.raises(ConfigurationError, match=message):
        load_topology(write_topology(tmp_path / "t.yaml", doc))


def test_unreadable_or_malformed_topology(tmp_path):
    with pytest.raises(ConfigurationError, match="cannot read"):
        load_topology(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("registry: [unclosed")
    with pytest.raises(ConfigurationError, match="not valid YAML"):
        load_topology(bad)
    bad.write_text("- a list")
    with pytest.raises(ConfigurationError, match="mapping"):
        load_topology(bad)
