"""The gateway's options: the topology's `options:` for the gateway service, validated here."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from reelcloud.gateway.http.server import Limits
from reelcloud.platform.settings import Settings, service_options

PACKAGE_DIR = Path(__file__).parent


class GatewaySettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    listen_host: str = "127.0.0.1"
    listen_port: int = Field(default=8080, ge=0, le=65535)
    routes_file: Path = PACKAGE_DIR / "routes.yaml"
    routes_poll_interval_s: float = Field(default=0.5, gt=0)
    web_dir: Path = PACKAGE_DIR.parent.parent.parent / "web"
    trusted_proxies: list[str] = []  # peers whose X-Forwarded-For / X-Request-Id are believed
    rate_per_client_per_s: float = Field(default=200.0, gt=0)
    burst_per_client: int = Field(default=400, gt=0)
    rate_per_member_per_s: float = Field(default=50.0, gt=0)
    burst_per_member: int = Field(default=100, gt=0)
    max_in_flight: int = Field(default=2000, gt=0)  # load shedding above this
    origin_max_concurrency: int = Field(default=200, gt=0)  # Zuul's default
    connect_timeout_ms: int = Field(default=500, gt=0)
    read_timeout_ms: int = Field(default=5000, gt=0)
    max_retries: int = Field(default=1, ge=0, le=5)  # on another instance
    cors_origins: list[str] = ["http://127.0.0.1:8080", "http://localhost:8080"]
    max_header_bytes: int = Field(default=16 * 1024, gt=0)
    max_body_bytes: int = Field(default=1024 * 1024, gt=0)
    # Slow and greedy clients (see gateway/http/server.py).
    header_timeout_s: float = Field(default=10.0, gt=0)
    body_timeout_s: float = Field(default=30.0, gt=0)
    keep_alive_timeout_s: float = Field(default=60.0, gt=0)
    max_connections_per_client: int = Field(default=256, gt=0)
    access_log: bool = True

    @classmethod
    def of(cls, settings: Settings) -> GatewaySettings:
        return service_options(settings, cls)

    def limits(self) -> Limits:
        """What the public listener enforces while reading requests."""
        return Limits(
            max_header_bytes=self.max_header_bytes,
            max_body_bytes=self.max_body_bytes,
            header_timeout_s=self.header_timeout_s,
            body_timeout_s=self.body_timeout_s,
            keep_alive_timeout_s=self.keep_alive_timeout_s,
            max_connections_per_client=self.max_connections_per_client,
            uncapped_clients=frozenset(self.trusted_proxies),
        )
