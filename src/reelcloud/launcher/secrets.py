"""The platform's secrets: made on the first `reelcloud up`, kept in the data directory, and
handed to each process only as far as it needs them.

`<data_dir>/secrets.json` (mode 0600) is written once from the operating system's CSPRNG and
reused by every later start, so tokens, signed URLs and sealed content keys outlive restarts.
A data directory from before this file existed gets one on its next start; values a newer
version adds are generated into an existing file without touching the others. A
`REELCLOUD_*` variable set for the launcher wins over the file (deployments keep secrets in
their own store); nothing ships in the code.
"""

from __future__ import annotations

import contextlib
import hmac
import os
import secrets
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

import orjson

from reelcloud.launcher.plan import OCA_SERVICE
from reelcloud.platform.credentials import service_password
from reelcloud.platform.errors import LauncherError
from reelcloud.platform.settings import Settings

SECRETS_FILE = "secrets.json"

# Who holds what beyond its registry credential and the admin check: a process that never
# signs or verifies a token does not get the key (a leaked log of its environment gives less).
SESSION_HOLDERS = frozenset({"gateway", "accounts", "play-api", "license"})
URL_KEY_HOLDERS = frozenset({"steering", OCA_SERVICE})
REPORT_SECRET_HOLDERS = frozenset({"cache-control", OCA_SERVICE})
CONTENT_KEK_HOLDERS = frozenset({"license"})


def _token() -> str:
    return secrets.token_urlsafe(32)


@dataclass(frozen=True)
class Secrets:
    # Signs session tokens, play-session blobs and licence play tokens.
    session_secret: str = field(default_factory=_token)
    # Every service's registry password derives from it (platform.credentials).
    registry_secret: str = field(default_factory=_token)
    admin_password: str = field(default_factory=_token)
    # OCA URL signing keys by id: the last signs, all verify.
    url_signing_keys: dict[str, str] = field(default_factory=lambda: {"k1": _token()})
    # Each OCA's report key derives from it (platform.oca_auth).
    oca_report_secret: str = field(default_factory=_token)
    # Seals content keys at rest (AES-GCM): the key bucket alone opens nothing.
    content_kek: str = field(default_factory=_token)
    # Each database service's PostgreSQL password derives from it.
    database_secret: str = field(default_factory=_token)
    s3_access_key: str = field(default_factory=lambda: "reelcloud-" + secrets.token_hex(6))
    s3_secret_key: str = field(default_factory=_token)

    def with_overrides(self, settings: Settings) -> Secrets:
        """The launcher's own environment (and Open Connect secrets a topology file names)
        win over the file."""
        overrides: dict[str, object] = {}
        for name in ("session_secret", "registry_secret", "admin_password", "content_kek"):
            value = getattr(settings, name).get_secret_value()
            if value:
                overrides[name] = value
        openconnect = settings.topology.openconnect  # settings merged the environment's in
        if openconnect is not None and openconnect.signing_keys:
            overrides["url_signing_keys"] = dict(openconnect.signing_keys)
        if openconnect is not None and openconnect.report_secret:
            overrides["oca_report_secret"] = openconnect.report_secret
        return replace(self, **overrides)  # type: ignore[arg-type]

    def database_password(self, role: str) -> str:
        digest = hmac.new(self.database_secret.encode(), b"database:" + role.encode(), "sha256")
        return digest.hexdigest()

    def env_for(self, service: str) -> dict[str, str]:
        """The secrets one process of `service` runs with, as its environment."""
        env = {
            "REELCLOUD_REGISTRY_USER": service,
            "REELCLOUD_REGISTRY_PASSWORD": service_password(self.registry_secret, service),
            "REELCLOUD_ADMIN_PASSWORD": self.admin_password,
        }
        if service == "registry":
            env["REELCLOUD_REGISTRY_SECRET"] = self.registry_secret
        if service in SESSION_HOLDERS:
            env["REELCLOUD_SESSION_SECRET"] = self.session_secret
        if service in URL_KEY_HOLDERS:
            env["REELCLOUD_URL_SIGNING_KEYS"] = orjson.dumps(self.url_signing_keys).decode()
        if service in REPORT_SECRET_HOLDERS:
            env["REELCLOUD_OCA_REPORT_SECRET"] = self.oca_report_secret
        if service in CONTENT_KEK_HOLDERS:
            env["REELCLOUD_CONTENT_KEK"] = self.content_kek
        return env

    def job_env(self) -> dict[str, str]:
        """What a job that publishes titles (ingest, demo seeding) needs: it seals their keys."""
        return {"REELCLOUD_CONTENT_KEK": self.content_kek}


def _parse(raw: bytes, path: Path) -> dict[str, object]:
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise LauncherError(f"{path} is not valid JSON ({exc}); fix or remove it") from exc
    if not isinstance(data, dict):
        raise LauncherError(f"{path} must hold a JSON object")
    known = {f.name for f in fields(Secrets)}
    values = {k: v for k, v in data.items() if k in known}
    for name, value in values.items():
        valid = (
            isinstance(value, dict)
            and value
            and all(isinstance(k, str) and isinstance(v, str) and v for k, v in value.items())
            if name == "url_signing_keys"
            else isinstance(value, str) and value
        )
        if not valid:
            raise LauncherError(f"{path}: {name} is empty or of the wrong type")
    return values


def _write_private(path: Path, data: bytes) -> None:
    """Write through a fresh 0600 file renamed into place: never a moment readable by others,
    never half written."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with contextlib.suppress(FileNotFoundError):
        temporary.unlink()
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def load_or_create_secrets(root: Path) -> Secrets:
    """The data directory's secrets, made (or completed) on first use."""
    path = root / SECRETS_FILE
    try:
        stored = _parse(path.read_bytes(), path)
    except FileNotFoundError:
        stored = {}
    made = Secrets(**stored)  # type: ignore[arg-type]
    if set(stored) != {f.name for f in fields(Secrets)}:
        root.mkdir(parents=True, exist_ok=True)
        _write_private(path, orjson.dumps(asdict(made), option=orjson.OPT_INDENT_2))
    path.chmod(0o600)  # a copy restored by hand may have come back readable
    return made


def load_secrets(root: Path) -> Secrets:
    """The secrets of the platform in `root`, for CLI commands; an error if it has none."""
    path = root / SECRETS_FILE
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise LauncherError(
            f"{path} does not exist: `reelcloud up --data-dir {root}` makes it"
        ) from None
    except PermissionError:
        raise LauncherError(f"{path} is not readable by this user") from None
    return Secrets(**_parse(raw, path))  # type: ignore[arg-type]
