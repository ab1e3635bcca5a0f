"""The event pipeline's world for tests and benchmarks: real engines on loopback (PostgreSQL
with a role and database per service, as the launcher provisions them; nats-server; SeaweedFS;
Tansu on it) and the router and jobs services run in this process."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp

from reelcloud.launcher.engines.kafka import KafkaEngine, S3Endpoint
from reelcloud.launcher.engines.seaweedfs import SeaweedEngine
from reelcloud.launcher.process import ManagedProcess, ProcessSpec
from reelcloud.platform.credentials import ADMIN_USER, basic_authorization
from reelcloud.platform.database import database_name
from reelcloud.platform.settings import Settings
from reelcloud.platform.topology import Topology
from tests.support.engines import KafkaBroker, NatsServer, Postgres, kill9
from tests.support.factories import (
    TEST_S3_ACCESS_KEY,
    TEST_S3_SECRET_KEY,
    free_port,
    registry_credential,
    topology_dict,
)
from tests.support.servers import RunningService
from tests.support.waiting import wait_for

ADMIN_PASSWORD = "test-admin-password-0123456789"
ADMIN = {"Authorization": basic_authorization(ADMIN_USER, ADMIN_PASSWORD)}
ENTRYPOINTS = {"pipeline": "reelcloud.pipeline.api:create_app",
               "jobs": "reelcloud.jobs.api:create_app"}  # fmt: skip


class PipelineWorld:
    def __init__(self, root: Path, options: dict[str, dict[str, Any]], routes: str | None) -> None:
        """`options`: each service's topology options; `routes`: the routes file to seed
        (None: the router seeds its packaged default)."""
        self.root = root
        self.options = options
        self.routes = routes
        self.postgres = Postgres(root)
        self.nats = NatsServer(root / "nats")
        self.seaweed = SeaweedEngine(
            root / "seaweedfs", root / "seaweedfs.log", TEST_S3_ACCESS_KEY, TEST_S3_SECRET_KEY
        )
        self._weed: ManagedProcess | None = None
        self._weed_spec: ProcessSpec | None = None
        self.kafka = KafkaBroker(KafkaEngine(
            root / "kafka.log",
            lambda: S3Endpoint(self.seaweed.url, TEST_S3_ACCESS_KEY, TEST_S3_SECRET_KEY),
        ))  # fmt: skip
        self.registry_port = free_port()
        self.services: dict[str, RunningService] = {}

    async def start_engines(self) -> None:
        await self.postgres.start()
        await self.postgres.engine.provision(
            {database_name(service): self.postgres.password for service in ENTRYPOINTS}
        )
        self.nats.start()
        self._weed_spec = self.seaweed.prepare()
        await self.start_seaweed()
        await self.kafka.start()
        if self.routes is not None:
            (self.root / "pipeline").mkdir(exist_ok=True)
            self.routes_file.write_text(self.routes)

    async def start_seaweed(self) -> None:
        """SeaweedFS on its port and data (again, after `kill9_seaweed`)."""
        assert self._weed_spec is not None
        self._weed = ManagedProcess(self._weed_spec, restart=False)
        self._weed.start()
        await wait_for(self.seaweed.ready, what="SeaweedFS answers", interval_s=0.2)

    async def kill9_seaweed(self) -> None:
        assert self._weed is not None
        await kill9(self._weed)
        self._weed = None

    async def stop(self) -> None:
        for service in reversed(list(self.services)):
            await self.stop_service(service)
        await self.kafka.stop()
        if self._weed is not None:
            await self._weed.stop()
        self.nats.stop()
        await self.postgres.stop()

    @property
    def routes_file(self) -> Path:
        return self.root / "pipeline" / "routes.yaml"

    def settings(self, service: str, **options: Any) -> Settings:
        doc = topology_dict([self.registry_port], services=[
            {"name": name, "entrypoint": entrypoint, "database": True,
             "options": {**self.options.get(name, {}), **(options if name == service else {})}}
            for name, entrypoint in ENTRYPOINTS.items()
        ])  # fmt: skip
        return Settings(
            service=service, instance_id=f"test:{service}:1", host="127.0.0.1", port=0,
            topology=Topology.model_validate(doc), data_dir=self.root,
            database_url=self.postgres.engine.role_url(database_name(service),
                                                       self.postgres.password),
            nats_url=self.nats.url, s3_url=self.seaweed.url, s3_access_key=TEST_S3_ACCESS_KEY,
            s3_secret_key=TEST_S3_SECRET_KEY, kafka_url=self.kafka.url,
            admin_password=ADMIN_PASSWORD, log_format="text", **registry_credential(service),
        )  # fmt: skip

    async def start(self, service: str, **options: Any) -> RunningService:
        self.services[service] = await RunningService(self.settings(service, **options)).start()
        return self.services[service]

    async def stop_service(self, service: str) -> None:
        running = self.services.pop(service, None)
        if running is not None:
            await running.stop()

    async def get(self, service: str, path: str, *, admin: bool = False) -> Any:
        async with (
            aiohttp.ClientSession() as http,
            http.get(self.services[service].url + path, headers=ADMIN if admin else {}) as reply,
        ):
            body = await reply.json()
            assert reply.status == 200, (path, body)
            return body

    async def routes_status(self) -> dict[str, dict[str, Any]]:
        body = await self.get("pipeline", "/pipeline/status", admin=True)
        return {route["name"]: route for route in body["routes"]}

    def lake(self, sql: str) -> list[tuple[Any, ...]]:
        from reelcloud.pipeline import query
        from reelcloud.pipeline.api import ROUTER

        tables = self.services["pipeline"].app[ROUTER].lake.describe()
        db = query.connect(
            tables, self.seaweed.url, TEST_S3_ACCESS_KEY, TEST_S3_SECRET_KEY, "us-east-1"
        )
        return query.run(db, sql)[1]

    def lake_count(self, table: str, where: str = "true") -> int:
        try:
            return int(self.lake(f"select count(*) from {table} where {where}")[0][0])
        except Exception as exc:  # the table is not made yet
            if "does not exist" in str(exc):
                return 0
            raise
