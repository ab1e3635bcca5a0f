"""The CLI's own rendering and gateway discovery, without a platform."""

import io
from pathlib import Path

import pytest
from rich.console import Console

from reelcloud import cli
from reelcloud.launcher.secrets import load_or_create_secrets
from reelcloud.platform.credentials import basic_authorization
from reelcloud.platform.errors import ReelcloudError

SERVICES = [
    "gateway",
    "accounts",
    "catalog",
    "playback",
    "license",
    "cache-control",
    "steering",
    "play-api",
]


def a_status() -> dict:
    instances = [
        {
            "service": name,
            "id": f"127.0.0.1:{name}:{n}",
            "address": f"127.0.0.1:4{n}123",
            "zone": "local-1a",
            "status": status,
            "health": health,
            "process": "running",
            "pid": 1,
            "restarts": 0,
        }
        for name in SERVICES
        for n, status, health in (
            (1, "UP", "ok"),
            (2, "OUT_OF_SERVICE", "failing (ClientConnectorError)"),
        )
    ]
    engines = [
        {
            "name": "postgres",
            "url": "postgresql://postgres@127.0.0.1:45211/postgres",
            "process": "running",
            "pid": 2,
            "restarts": 0,
        }
    ]
    return {
        "topology": "local",
        "phase": "running",
        "instances": instances,
        "engines": engines,
        "registry": {"peers": []},
    }


def test_status_fits_80_columns_with_every_instance_named_in_full():
    buffer = io.StringIO()
    cli._print_status(a_status(), Console(file=buffer, width=80, color_system=None))
    lines = buffer.getvalue().splitlines()
    assert max(len(line) for line in lines) <= 80
    text = buffer.getvalue()
    for name in SERVICES:
        assert f"{name}:1 " in text, name
        assert f"{name}:2 " in text, name
    assert "OUT_OF_SVC" in text


def test_status_says_why_an_instance_is_not_ready():
    status = a_status()
    status["instances"][0]["health"] = "not-ready (consumer title.encoded: down)"
    buffer = io.StringIO()
    cli._print_status(status, Console(file=buffer, width=80, color_system=None))
    text = buffer.getvalue()
    assert "gateway:1 not-ready (consumer title.encoded: down)" in text
    assert text.count("not-ready") == 2  # in the table, and the line that says why


def test_play_with_a_data_dir_where_nothing_runs_says_so(tmp_path: Path):
    settings = cli._settings(tmp_path)
    with pytest.raises(ReelcloudError, match="no platform is running"):
        cli._gateway_url(settings, None, tmp_path)


def test_an_explicit_gateway_wins(tmp_path: Path):
    assert (
        cli._gateway_url(cli._settings(tmp_path), "http://10.0.0.1:80", tmp_path)
        == "http://10.0.0.1:80"
    )


def test_the_gateway_is_the_public_listener_of_the_topology_the_platform_runs(tmp_path: Path):
    import json

    import yaml

    from reelcloud.platform.topology import default_topology_path

    doc = yaml.safe_load(default_topology_path().read_text())
    next(s for s in doc["services"] if s["name"] == "gateway")["options"]["listen_port"] = 18123
    topology = tmp_path / "world.yaml"
    topology.write_text(yaml.safe_dump(doc))
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / "launcher.json").write_text(json.dumps({"pid": 1, "topology_file": str(topology)}))
    settings = cli._client_settings(data_dir, None)
    assert cli._gateway_url(settings, None, data_dir) == "http://127.0.0.1:18123"


def test_admin_commands_send_the_admin_password_from_the_environment(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("REELCLOUD_ADMIN_PASSWORD", "from-the-environment")
    assert cli._admin_headers(tmp_path) == {
        "Authorization": basic_authorization("admin", "from-the-environment")
    }


def test_admin_commands_without_any_admin_password_say_where_it_comes_from(
    tmp_path: Path, monkeypatch
):
    monkeypatch.delenv("REELCLOUD_ADMIN_PASSWORD", raising=False)
    with pytest.raises(ReelcloudError, match=r"secrets\.json does not exist: `reelcloud up"):
        cli._admin_headers(tmp_path)


def test_admin_commands_read_the_admin_password_of_the_data_directory(tmp_path: Path, monkeypatch):
    monkeypatch.delenv("REELCLOUD_ADMIN_PASSWORD", raising=False)
    made = load_or_create_secrets(tmp_path)
    assert cli._admin_headers(tmp_path) == {
        "Authorization": basic_authorization("admin", made.admin_password)
    }


def test_since_takes_ago_iso_and_unix_times():
    import time

    now = time.time()
    assert abs(cli._since("15m") - (now - 900)) < 5
    assert abs(cli._since("2h") - (now - 7200)) < 5
    assert abs(cli._since("1d") - (now - 86_400)) < 5
    assert cli._since("1700000000") == 1_700_000_000
    assert cli._since("2026-12-04T10:00:00+00:00") == 1_796_378_400
    for bad in ("", "yesterday", "15 minutes", "m"):
        with pytest.raises(ReelcloudError, match="--since"):
            cli._since(bad)


def test_job_commands_with_a_data_dir_where_nothing_runs_say_so(tmp_path: Path):
    for command in (cli.qoe, cli.sps, cli.trending, cli.pipeline_status):
        with pytest.raises(ReelcloudError):
            command(data_dir=tmp_path)
