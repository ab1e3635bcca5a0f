"""The data directory's secrets file: made once, private, reused, completed, overridable."""

import json
import stat

import orjson
import pytest

from reelcloud.launcher.datadir import DataDir
from reelcloud.launcher.secrets import SECRETS_FILE, load_or_create_secrets, load_secrets
from reelcloud.platform.credentials import service_password
from reelcloud.platform.errors import LauncherError
from reelcloud.platform.settings import Settings


def mode_of(path):
    return stat.S_IMODE(path.stat().st_mode)


def test_the_first_start_makes_private_random_secrets_and_later_starts_reuse_them(tmp_path):
    made = load_or_create_secrets(tmp_path)
    path = tmp_path / SECRETS_FILE
    assert mode_of(path) == 0o600
    assert load_or_create_secrets(tmp_path) == made
    assert load_secrets(tmp_path) == made
    other = load_or_create_secrets(tmp_path / "another")
    values = [made.session_secret, made.registry_secret, made.admin_password, made.content_kek]
    assert len(set(values)) == 4
    assert all(len(v) >= 32 for v in values)
    assert other.session_secret != made.session_secret
    assert "reelcloud-dev" not in path.read_text()


def test_a_file_from_an_older_version_is_completed_without_changing_what_it_held(tmp_path):
    path = tmp_path / SECRETS_FILE
    path.write_text(json.dumps({"session_secret": "kept-session-secret-0123456789"}))
    path.chmod(0o644)
    made = load_or_create_secrets(tmp_path)
    assert made.session_secret == "kept-session-secret-0123456789"
    assert orjson.loads(path.read_bytes())["admin_password"] == made.admin_password
    assert mode_of(path) == 0o600


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "must hold a JSON object"),
        (b'{"session_secret": ""}', "session_secret is empty"),
        (b'{"url_signing_keys": {"k1": 5}}', "url_signing_keys is empty"),
    ],
)
def test_a_damaged_file_is_a_clear_error_and_is_left_as_it_was(tmp_path, content, message):
    (tmp_path / SECRETS_FILE).write_bytes(content)
    with pytest.raises(LauncherError, match=message):
        load_or_create_secrets(tmp_path)
    assert (tmp_path / SECRETS_FILE).read_bytes() == content


def test_without_a_file_cli_commands_say_how_to_make_one(tmp_path):
    with pytest.raises(LauncherError, match="does not exist: `reelcloud up --data-dir"):
        load_secrets(tmp_path)


def test_the_environment_of_the_launcher_wins_over_the_file(tmp_path, monkeypatch):
    monkeypatch.setenv("REELCLOUD_SESSION_SECRET", "from-the-environment-0123")
    monkeypatch.setenv("REELCLOUD_URL_SIGNING_KEYS", '{"k9": "url-key-from-the-environment"}')
    made = load_or_create_secrets(tmp_path).with_overrides(Settings())
    assert made.session_secret == "from-the-environment-0123"
    assert made.url_signing_keys == {"k9": "url-key-from-the-environment"}
    assert load_secrets(tmp_path).session_secret != "from-the-environment-0123"


def test_each_process_gets_only_the_secrets_it_needs(tmp_path):
    made = load_or_create_secrets(tmp_path)
    catalog = made.env_for("catalog")
    assert catalog["REELCLOUD_REGISTRY_USER"] == "catalog"
    assert catalog["REELCLOUD_REGISTRY_PASSWORD"] == service_password(
        made.registry_secret, "catalog"
    )
    assert made.session_secret not in catalog.values()
    assert made.registry_secret not in catalog.values()
    assert made.content_kek not in catalog.values()
    assert made.env_for("gateway")["REELCLOUD_SESSION_SECRET"] == made.session_secret
    assert "REELCLOUD_URL_SIGNING_KEYS" not in made.env_for("gateway")
    assert made.env_for("registry")["REELCLOUD_REGISTRY_SECRET"] == made.registry_secret
    assert made.env_for("license")["REELCLOUD_CONTENT_KEK"] == made.content_kek
    oca = made.env_for("oca")
    assert orjson.loads(oca["REELCLOUD_URL_SIGNING_KEYS"]) == made.url_signing_keys
    assert oca["REELCLOUD_OCA_REPORT_SECRET"] == made.oca_report_secret
    assert "REELCLOUD_SESSION_SECRET" not in oca


def test_an_old_data_directory_is_made_private_except_trees_another_user_owns(tmp_path):
    datadir = DataDir.at(tmp_path / "data")
    datadir.ensure()
    spool = datadir.root / "spool" / "play-api"
    spool.mkdir(parents=True, mode=0o755)
    (spool / "events.log").write_text("x")
    (spool / "events.log").chmod(0o644)
    kept = datadir.engines / "postgres" / "data"
    kept.mkdir(parents=True)
    kept.chmod(0o750)
    assert datadir.make_private(skip=(datadir.engines / "postgres",)) >= 2
    assert mode_of(spool / "events.log") == 0o600
    assert mode_of(spool) == 0o700
    assert mode_of(kept) == 0o750
    assert datadir.make_private(skip=(datadir.engines / "postgres",)) == 0
