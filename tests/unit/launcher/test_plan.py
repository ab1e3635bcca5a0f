from tests.support.factories import topology_dict

from reelcloud.launcher.plan import registry_instances, service_instance, service_instances
from reelcloud.platform.settings import load_settings
from reelcloud.platform.topology import Topology


def test_plan_spreads_instances_over_zones_and_layers(tmp_path):
    doc = topology_dict(
        [8761, 8762],
        services=[
            {"name": "catalog", "entrypoint": "m:f", "instances": 3, "layer": 1},
            {"name": "gateway", "entrypoint": "m:f", "instances": 2, "layer": 2, "port": 8080},
        ],
    )
    settings = load_settings(topology=Topology.model_validate(doc), data_dir=tmp_path)
    registries = registry_instances(settings)
    assert [(p.port, p.zone, p.layer) for p in registries] == [(8761, "z1", 1), (8762, "z2", 1)]
    plans = service_instances(settings)
    assert [(p.service, p.index, p.zone, p.layer) for p in plans] == [
        ("catalog", 1, "z1", 2),
        ("catalog", 2, "z2", 2),
        ("catalog", 3, "z1", 2),
        ("gateway", 1, "z1", 3),
        ("gateway", 2, "z2", 3),
    ]
    gateway = service_instance(settings, "gateway", 2)
    assert gateway.env["REELCLOUD_REUSE_PORT"] == "true"
    assert gateway.env["REELCLOUD_INSTANCE_ID"].endswith(":gateway:2")
    assert "REELCLOUD_REUSE_PORT" not in plans[0].env
