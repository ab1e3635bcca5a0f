import pytest
from tests.support.factories import topology_dict, write_topology

from reelcloud.platform.errors import ConfigurationError
from reelcloud.platform.settings import load_settings
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


def test_settings_come_from_environment_and_mask_secrets(monkeypatch, tmp_path):
    path = write_topology(tmp_path / "t.yaml", topology_dict([9999]))
    monkeypatch.setenv("REELCLOUD_TOPOLOGY_FILE", str(path))
    monkeypatch.setenv("REELCLOUD_SERVICE", "catalog")
    monkeypatch.setenv("REELCLOUD_DATABASE_URL", "postgresql://u:pw-hunter2@h/db")
    monkeypatch.setenv("REELCLOUD_S3_SECRET_KEY", "s3-hunter3")
    settings = load_settings()
    assert settings.service == "catalog"
    assert settings.registry_url_list == ["http://127.0.0.1:9999/eureka/"]
    assert settings.effective_zone == "z1"
    shown = str(settings.masked())
    assert "hunter2" not in shown
    assert "hunter3" not in shown
    assert settings.s3_secret_key.get_secret_value() == "s3-hunter3"
    with pytest.raises(Exception, match="frozen"):
        settings.service = "other"  # type: ignore[misc]


def test_bad_environment_values_are_configuration_errors(monkeypatch):
    monkeypatch.setenv("REELCLOUD_PORT", "not-a-port")
    with pytest.raises(ConfigurationError, match="port"):
        load_settings()


def test_config_show_prints_effective_settings_with_secrets_masked(monkeypatch, tmp_path):
    import json

    from typer.testing import CliRunner

    from reelcloud.cli import app

    monkeypatch.setenv("REELCLOUD_DATABASE_URL", "postgresql://u:hunter2@h/db")
    result = CliRunner().invoke(app, ["config", "show", "--data-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    shown = json.loads(result.output)
    assert shown["database_url"] == "**********"
    assert shown["topology"]["registry"]["lease_duration_s"] == 90
    assert "hunter2" not in result.output
