import json

import pytest
from tests.support.factories import topology_dict, write_topology
from typer.testing import CliRunner

from reelcloud.cli import app
from reelcloud.platform.errors import ConfigurationError
from reelcloud.platform.settings import load_settings


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
    monkeypatch.setenv("REELCLOUD_DATABASE_URL", "postgresql://u:hunter2@h/db")
    result = CliRunner().invoke(app, ["config", "show", "--data-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    shown = json.loads(result.output)
    assert shown["database_url"] == "**********"
    assert shown["topology"]["registry"]["lease_duration_s"] == 90
    assert "hunter2" not in result.output
