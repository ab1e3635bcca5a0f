"""One frozen settings object per process, read once at start and passed down.

Values come from `REELCLOUD_*` environment variables and the topology file; nothing else in
the platform reads `os.environ`. The launcher sets the per-instance variables (service,
instance id, zone, port, engine URLs) when it starts a process.
"""

from __future__ import annotations

import os
import re
import socket
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from reelcloud.platform.errors import ConfigurationError
from reelcloud.platform.topology import Topology, load_topology

MIN_SECRET_LENGTH = 16


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="REELCLOUD_", frozen=True, extra="ignore")

    data_dir: Path = Path(".reelcloud")
    topology_file: Path | None = None
    topology: Topology

    service: str = ""
    instance_id: str = ""
    host: str = "127.0.0.1"
    port: int = Field(default=0, ge=0, le=65535)
    reuse_port: bool = False
    zone: str = ""
    # Set for Open Connect appliances: which OCA of the topology this process is.
    oca_id: str = ""
    # Empty: the topology's registry peers.
    registry_urls: str = ""

    database_url: SecretStr | None = None
    nats_url: str | None = None
    # A Kafka bootstrap list, `host:port[,host:port]` (the embedded broker's, or any Kafka's).
    kafka_url: str | None = None
    s3_url: str | None = None
    s3_access_key: str = ""
    s3_secret_key: SecretStr = SecretStr("")
    s3_region: str = "us-east-1"
    # Secrets come from the data directory's secrets file (the launcher passes each process
    # the ones it needs) or from the environment in deployments; none ship in the code.
    # Signs members' session tokens: accounts issues them, the gateway checks them.
    session_secret: SecretStr = SecretStr("")
    # This process's registry credential: its service's name and derived password.
    registry_user: str = ""
    registry_password: SecretStr = SecretStr("")
    # Registry servers only: the secret every service's registry password derives from.
    registry_secret: SecretStr = SecretStr("")
    # The admin credential (user `admin`): admin routes that change behaviour need it.
    admin_password: SecretStr = SecretStr("")
    # Open Connect's URL-signing keys by id (JSON) and report secret; they replace the
    # topology's, so a topology file never has to hold them.
    url_signing_keys: dict[str, str] = Field(default_factory=dict)
    oca_report_secret: SecretStr = SecretStr("")
    # Seals content keys at rest: encoding seals, license opens.
    content_kek: SecretStr = SecretStr("")
    # memcached nodes per zone, from REELCLOUD_MEMCACHED_<ZONE>=host:port,host:port
    memcached: dict[str, str] = Field(default_factory=dict)

    log_level: str = "INFO"
    log_format: Literal["json", "text"] = "json"
    shutdown_grace_s: float = Field(default=5.0, gt=0)
    # uvloop is about twice as fast for network work; asyncio's own loop is the one whose
    # sendfile aiohttp uses for files (the OCAs will want it).
    event_loop: Literal["uvloop", "asyncio"] = "uvloop"
    # Honour X-Reelcloud-Fault headers (chaos experiments); off unless asked for.
    fault_injection: bool = False
    max_body_bytes: int = Field(default=1024 * 1024, gt=0)

    @model_validator(mode="before")
    @classmethod
    def _from_topology(cls, data: Any) -> Any:
        """Load the topology file, then the memcached nodes of each of its zones."""
        if not isinstance(data, dict):
            return data
        if data.get("topology") is None:
            path = data.get("topology_file")
            data["topology"] = load_topology(Path(path) if path else None)
        topology = data["topology"]
        if not data.get("memcached") and isinstance(topology, Topology):
            found = {}
            for zone in topology.zones:
                spec = os.environ.get(memcached_env_var(zone))
                if spec:
                    found[zone] = spec
            data["memcached"] = found
        return data

    @model_validator(mode="after")
    def _open_connect_secrets(self) -> Settings:
        openconnect = self.topology.openconnect
        update: dict[str, Any] = {}
        if self.url_signing_keys:
            update["signing_keys"] = dict(self.url_signing_keys)
        if self.oca_report_secret.get_secret_value():
            update["report_secret"] = self.oca_report_secret.get_secret_value()
        if openconnect is not None and update:
            topology = self.topology.model_copy(
                update={"openconnect": openconnect.model_copy(update=update)}
            )
            object.__setattr__(self, "topology", topology)  # frozen: set once, while built
        return self

    def required_secret(self, name: str) -> str:
        """A secret this process cannot run without (`session_secret`, `content_kek`…);
        a configuration error at start when it is missing or too short to be one."""
        value: str = getattr(self, name).get_secret_value()
        if len(value) < MIN_SECRET_LENGTH:
            raise ConfigurationError(
                f"{self.service or 'this process'} needs REELCLOUD_{name.upper()} of "
                f"{MIN_SECRET_LENGTH} characters or more (`reelcloud up` passes the data "
                "directory's)"
            )
        return value

    @property
    def hostname(self) -> str:
        return socket.gethostname()

    @property
    def registry_url_list(self) -> list[str]:
        if self.registry_urls:
            return [u.strip() for u in self.registry_urls.split(",") if u.strip()]
        return self.topology.registry_urls

    @property
    def effective_zone(self) -> str:
        return self.zone or self.topology.zones[0]

    def masked(self) -> dict[str, Any]:
        """The effective settings as plain data, secrets masked (for `reelcloud config show`)."""
        data = self.model_dump(mode="json")
        if self.database_url is not None:
            data["database_url"] = "**********"
        data["s3_secret_key"] = "**********" if self.s3_secret_key.get_secret_value() else ""
        secrets = (
            "session_secret", "registry_password", "registry_secret", "admin_password",
            "oca_report_secret", "content_kek",
        )  # fmt: skip
        for name in secrets:
            data[name] = "**********" if getattr(self, name).get_secret_value() else ""
        data["url_signing_keys"] = {kid: "**********" for kid in self.url_signing_keys}
        openconnect = data["topology"].get("openconnect")
        if openconnect:
            openconnect["signing_keys"] = {kid: "**********" for kid in openconnect["signing_keys"]}
            openconnect["report_secret"] = "**********"
        return data


OptionsT = TypeVar("OptionsT", bound=BaseModel)


def service_options(settings: Settings, model: type[OptionsT]) -> OptionsT:
    """The `options:` the topology gives this process's service, validated by its own model."""
    try:
        options = settings.topology.service(settings.service).options
    except ConfigurationError:
        options = {}
    try:
        return model.model_validate(options)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigurationError(f"{settings.service} options: {where}: {first['msg']}") from exc


def memcached_env_var(zone: str) -> str:
    return "REELCLOUD_MEMCACHED_" + re.sub(r"[^A-Z0-9]", "_", zone.upper())


def load_settings(**overrides: Any) -> Settings:
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "settings"
        raise ConfigurationError(f"{where}: {first['msg']}") from exc
