"""The supervisor: brings the topology up layer by layer, keeps it up, and takes it down.

Layer 0 is the engines, layer 1 the registry peers, then each service's `layer + 1`. A layer
starts only once every instance of the layer below answers `/readyz` (engines: their own
check). Stopping goes in reverse, each layer's instances in parallel.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import IO, Any

import aiohttp
import orjson

from reelcloud.launcher.datadir import DataDir
from reelcloud.launcher.engines import Engine
from reelcloud.launcher.engines.kafka import KafkaEngine, S3Endpoint
from reelcloud.launcher.engines.memcached import MemcachedEngine, memcached_binary
from reelcloud.launcher.engines.nats import NatsEngine
from reelcloud.launcher.engines.postgres import PostgresEngine
from reelcloud.launcher.engines.seaweedfs import SeaweedEngine
from reelcloud.launcher.plan import (
    InstancePlan,
    registry_instances,
    service_instance,
    service_instances,
)
from reelcloud.launcher.process import ManagedProcess, ProcessSpec, ProcessState
from reelcloud.launcher.secrets import Secrets, load_or_create_secrets
from reelcloud.platform.credentials import basic_authorization, service_password
from reelcloud.platform.database import database_name
from reelcloud.platform.errors import BadRequestError, LauncherError, NotFoundError
from reelcloud.platform.eureka import json_codec
from reelcloud.platform.settings import Settings, memcached_env_var

log = logging.getLogger(__name__)

# How long an instance may take to get ready (REELCLOUD_READY_TIMEOUT_S: a slow machine).
READY_TIMEOUT_S = float(os.environ.get("REELCLOUD_READY_TIMEOUT_S", "60"))
PRIVACY_SWEEP_S = 5.0
# A process that dies this often while the launcher waits for it is broken, not slow.
START_RESTART_LIMIT = 3
Report = Callable[[str], None]


@dataclass
class RunningInstance:
    plan: InstancePlan
    process: ManagedProcess

    def address(self, datadir: DataDir) -> str:
        """Where the instance listens now: announced by the process itself (ports are picked
        at bind time, and change when a crashed instance is restarted)."""
        try:
            announced = orjson.loads((datadir.run / f"{self.plan.instance_id}.json").read_bytes())
        except (OSError, orjson.JSONDecodeError):
            return ""
        if announced.get("pid") != self.process.pid:
            return ""
        return str(announced.get("address", ""))


@dataclass
class RunningEngine:
    engine: Engine
    process: ManagedProcess


class Supervisor:
    def __init__(self, settings: Settings, report: Report | None = None) -> None:
        self.settings = settings
        self.datadir = DataDir.at(settings.data_dir)
        self.report = report or (lambda message: log.info("%s", message))
        self.phase = "starting"
        self.engines: list[RunningEngine] = []
        self.jobs: list[ManagedProcess] = []  # one-shot background work (demo seeding)
        self.instances: dict[str, RunningInstance] = {}
        self.engine_env: dict[str, str] = {}
        self.secrets: Secrets | None = None
        # The embedded PostgreSQL, when it runs: database services get a role URL of their own.
        self.postgres: PostgresEngine | None = None
        self.stop_requested = asyncio.Event()
        self._lock: IO[str] | None = None
        self._http: aiohttp.ClientSession | None = None
        self._scale_lock = asyncio.Lock()
        self._started_at = time.time()
        self._privacy: asyncio.Task[None] | None = None

    # ---- lifecycle --------------------------------------------------------------------------

    def _write_state(self) -> None:
        """launcher.json (0600): how other CLI commands find this platform (pid, control
        socket) and its engines (URLs and the embedded engines' credentials)."""
        self.datadir.private_file(self.datadir.state_file).write_bytes(
            orjson.dumps(
                {
                    "pid": os.getpid(),
                    "socket": str(self.datadir.control_socket),
                    "started_at": self._started_at,
                    "engines": self.engine_env,
                    # Where the embedded PostgreSQL listens (each role's URL: database_url_of).
                    "postgres": (
                        {"host": self.postgres.host, "port": self.postgres.port}
                        if self.postgres is not None
                        else None
                    ),
                    # Clients of this platform (play, load) read the same world.
                    "topology_file": str(self.settings.topology_file or ""),
                }
            )
        )

    def acquire(self) -> None:
        """One launcher per data directory."""
        self.datadir.ensure()
        self.datadir.make_private(skip=(self.datadir.engines / "postgres",))
        self.secrets = load_or_create_secrets(self.datadir.root).with_overrides(self.settings)
        lock = open(self.datadir.lock_file, "a+")  # noqa: SIM115 - held for the process's life
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.close()
            raise LauncherError(
                f"a platform is already running with data dir {self.datadir.root}"
            ) from None
        self._lock = lock
        self._write_state()

    def release(self) -> None:
        self.datadir.state_file.unlink(missing_ok=True)
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    async def start(self) -> None:
        self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2))
        started = time.monotonic()
        await self._start_engines()
        self._write_state()
        await self._start_layer(registry_instances(self.settings))
        plans = service_instances(self.settings)
        for layer in sorted({p.layer for p in plans}):
            await self._start_layer([p for p in plans if p.layer == layer])
        self.phase = "running"
        self.report(f"platform up in {time.monotonic() - started:.1f} s")
        self._start_demo_seed()
        self._privacy = asyncio.create_task(self._keep_engines_private(), name="privacy")

    def _start_demo_seed(self) -> None:
        """Seed the demo catalog in the background: the platform is usable meanwhile, and a
        later start finds the titles published and does nothing."""
        demo = self.settings.topology.demo_catalog
        if not demo.enabled or demo.titles == 0 or "REELCLOUD_S3_URL" not in self.engine_env:
            return
        spec = ProcessSpec(
            name="demo-seed",
            # At background priority (nice, SCHED_BATCH, its session's autogroup): the encodes
            # must not starve the services that just came up.
            argv=[
                sys.executable,
                "-m",
                "reelcloud.encoding.priority",
                sys.executable,
                "-m",
                "reelcloud",
                "seed-demo",
                "--titles",
                str(demo.titles),
                "--seconds",
                str(demo.seconds),
            ],
            log_path=self.datadir.log_of("demo-seed"),
            env={
                "REELCLOUD_DATA_DIR": str(self.datadir.root),
                **self.engine_env,
                **self._secrets.job_env(),
            },
        )
        job = ManagedProcess(spec, restart=False)
        job.start()
        self.jobs.append(job)
        self.report(f"seeding the demo catalog in the background (log: {spec.log_path})")

    async def _keep_engines_private(self) -> None:
        """SeaweedFS writes each volume's info file (.vif) world-readable whatever the umask,
        when a volume is created (first write to a bucket, or a full volume). Its directory
        is 0700, so nobody else could reach it; still, every file of the data directory is
        its owner's only, checked every few seconds (a listing of a few dozen files)."""
        tree = DataDir.at(self.datadir.engines / "seaweedfs")
        while True:
            try:
                await asyncio.to_thread(tree.make_private)
            except OSError as exc:
                log.warning("could not make %s private: %s", tree.root, exc)
            await asyncio.sleep(PRIVACY_SWEEP_S)

    async def stop(self) -> None:
        self.phase = "stopping"
        if self._privacy is not None:
            self._privacy.cancel()
        await asyncio.gather(*(job.stop() for job in self.jobs))
        for layer in sorted({i.plan.layer for i in self.instances.values()}, reverse=True):
            members = [i for i in self.instances.values() if i.plan.layer == layer]
            await asyncio.gather(*(i.process.stop() for i in members))
            for instance in members:
                self.instances.pop(instance.plan.instance_id, None)
        for running in reversed(self.engines):
            await running.process.stop()
        self.engines.clear()
        if self._http is not None:
            await self._http.close()
        self.phase = "stopped"
        self.report("platform stopped")

    @property
    def _secrets(self) -> Secrets:
        if self.secrets is None:
            raise LauncherError("the supervisor has not acquired its data directory")
        return self.secrets

    @property
    def _registry_headers(self) -> dict[str, str]:
        """The launcher reads the registry (status) under its own credential."""
        user = "launcher"
        password = service_password(self._secrets.registry_secret, user)
        return {"Authorization": basic_authorization(user, password)}

    # ---- engines ----------------------------------------------------------------------------

    def _engines_wanted(self) -> list[Engine]:
        engines: list[Engine] = []
        config = self.settings.topology.engines
        root = self.datadir.engines
        if self.settings.database_url is not None:
            self.engine_env["REELCLOUD_DATABASE_URL"] = (
                self.settings.database_url.get_secret_value()
            )
        elif config.postgres.enabled:
            engines.append(PostgresEngine(root / "postgres", self.datadir.log_of("postgres")))
        if self.settings.nats_url is not None:
            self.engine_env["REELCLOUD_NATS_URL"] = self.settings.nats_url
        elif config.nats.enabled:
            engines.append(NatsEngine(root / "nats", self.datadir.log_of("nats")))
        if self.settings.s3_url is not None:
            self.engine_env["REELCLOUD_S3_URL"] = self.settings.s3_url
        elif config.seaweedfs.enabled:
            engines.append(
                SeaweedEngine(
                    root / "seaweedfs",
                    self.datadir.log_of("seaweedfs"),
                    self._secrets.s3_access_key,
                    self._secrets.s3_secret_key,
                )
            )
        if self.settings.kafka_url is not None:
            self.engine_env["REELCLOUD_KAFKA_URL"] = self.settings.kafka_url
        elif config.kafka.enabled:
            if self.settings.s3_url is None and not config.seaweedfs.enabled:
                self.report("kafka keeps its log in S3, and there is none: kafka not started")
            else:
                engines.append(KafkaEngine(self.datadir.log_of("kafka"), self._kafka_storage))
        if self.settings.memcached:
            for zone, spec in self.settings.memcached.items():
                self.engine_env[memcached_env_var(zone)] = spec
        elif config.memcached.enabled:
            if memcached_binary() is None:
                self.report("memcached is not installed: services will cache in-process")
            else:
                for zone in self.settings.topology.zones:
                    for n in range(1, config.memcached.nodes_per_zone + 1):
                        engine = MemcachedEngine(
                            zone, n, self.datadir.log_of(f"memcached-{zone}-{n}"),
                            memory_mb=config.memcached.memory_mb,
                        )  # fmt: skip
                        engines.append(engine)
        return engines

    def _kafka_storage(self) -> S3Endpoint:
        """Asked when the broker is prepared, once the S3 engine before it is ready (its URL
        is known only then); an external S3 comes with its own keys."""
        env = self.engine_env
        return S3Endpoint(
            env["REELCLOUD_S3_URL"],
            env.get("REELCLOUD_S3_ACCESS_KEY", self.settings.s3_access_key),
            env.get("REELCLOUD_S3_SECRET_KEY", self.settings.s3_secret_key.get_secret_value()),
            self.settings.s3_region,
        )

    async def _start_engines(self) -> None:
        for engine in self._engines_wanted():
            started = time.monotonic()
            spec: ProcessSpec = await asyncio.to_thread(engine.prepare)
            process = ManagedProcess(spec)
            self.engines.append(RunningEngine(engine, process))
            process.start()
            await self._wait(engine.name, process, engine.ready)
            if isinstance(engine, PostgresEngine):
                await engine.provision(self._database_roles())
                self.postgres = engine
                self.report(f"{engine.name:<10} ready  {engine.url}  (roles: {self._roles_text()})")
                continue
            # Several engines may share a variable (memcached nodes of one zone): join them.
            previous = self.engine_env.get(engine.env_var)
            self.engine_env[engine.env_var] = f"{previous},{engine.url}" if previous else engine.url
            self.engine_env.update(engine.extra_env)
            self.report(
                f"{engine.name:<10} ready  {engine.url}  ({time.monotonic() - started:.1f} s)"
            )

    # ---- instances --------------------------------------------------------------------------

    def _database_roles(self) -> dict[str, str]:
        """Role (= database) name → password, for every database service of the topology."""
        return {
            database_name(service.name): self._secrets.database_password(
                database_name(service.name)
            )
            for service in self.settings.topology.services
            if service.database
        }

    def _roles_text(self) -> str:
        return ", ".join(self._database_roles()) or "none"

    def _database_env(self, service: str) -> dict[str, str]:
        if self.postgres is None:
            return {}  # an external server: its URL is in engine_env for every service
        if not any(s.name == service and s.database for s in self.settings.topology.services):
            return {}
        role = database_name(service)
        url = self.postgres.role_url(role, self._secrets.database_password(role))
        return {"REELCLOUD_DATABASE_URL": url}

    def _spec(self, plan: InstancePlan) -> ProcessSpec:
        env = {
            **plan.env,
            **self.engine_env,
            **self._secrets.env_for(plan.service),
            **self._database_env(plan.service),
        }
        return ProcessSpec(
            name=plan.instance_id,
            argv=[sys.executable, "-m", "reelcloud", "run", plan.service],
            log_path=self.datadir.log_of(plan.instance_id),
            env=env,
            stop_timeout_s=self.settings.shutdown_grace_s + 1.0,
        )

    async def _start_layer(self, plans: list[InstancePlan]) -> None:
        started = time.monotonic()
        fresh = []
        for plan in plans:
            (self.datadir.run / f"{plan.instance_id}.json").unlink(missing_ok=True)
            instance = RunningInstance(plan, ManagedProcess(self._spec(plan)))
            self.instances[plan.instance_id] = instance
            instance.process.start()
            fresh.append(instance)
        await asyncio.gather(*(self._wait_instance(i) for i in fresh))
        for instance in fresh:
            self.report(
                f"{instance.plan.service:<10} ready  {instance.address(self.datadir):<21} "
                f"{instance.plan.instance_id}  ({time.monotonic() - started:.1f} s)"
            )

    async def _wait_instance(self, instance: RunningInstance) -> None:
        async def ready() -> bool:
            address = instance.address(self.datadir)
            if not address or self._http is None:
                return False
            try:
                async with self._http.get(f"http://{address}/readyz") as response:
                    return response.status == 200
            except (aiohttp.ClientError, TimeoutError):
                return False

        await self._wait(instance.plan.instance_id, instance.process, ready)

    async def _wait(
        self, name: str, process: ManagedProcess, ready: Callable[[], Awaitable[bool]]
    ) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if process.state is ProcessState.RUNNING and await ready():
                return
            if self.stop_requested.is_set():
                raise LauncherError(f"stopped while waiting for {name}")
            if process.restarts >= START_RESTART_LIMIT:
                raise LauncherError(
                    f"{name} keeps exiting (code {process.last_exit_code}, "
                    f"{process.restarts} restarts); last log lines:\n{process.log_tail()}"
                )
            await asyncio.sleep(0.1)
        await self._dump_stacks(process)
        raise LauncherError(
            f"{name} was not ready after {READY_TIMEOUT_S:.0f} s "
            f"(restarts: {process.restarts}); last log lines:\n{process.log_tail(60)}"
        )

    @staticmethod
    async def _dump_stacks(process: ManagedProcess) -> None:
        """Ask a stuck Python instance for its threads' stacks (`reelcloud run` writes them to
        its log on SIGUSR1) and give it a moment to write them; engines ignore the ask."""
        pid = process.pid
        if pid is None or process.spec.argv[1:4] != ["-m", "reelcloud", "run"]:
            return
        size = process.log_size()
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGUSR1)
        for _ in range(20):
            if process.log_size() > size:
                await asyncio.sleep(0.2)  # the rest of the dump
                return
            await asyncio.sleep(0.1)

    async def scale(self, service: str, count: int) -> list[str]:
        if service == "registry":
            raise BadRequestError("registry peers are fixed by the topology; they do not scale")
        if not 0 <= count <= 64:
            raise BadRequestError("instances must be between 0 and 64")
        if service not in {s.name for s in self.settings.topology.services}:
            raise NotFoundError(f"service {service!r} is not in the topology")
        async with self._scale_lock:
            current = sorted(
                (i for i in self.instances.values() if i.plan.service == service),
                key=lambda i: i.plan.index,
            )
            if count > len(current):
                used = {i.plan.index for i in current}
                indices = [n for n in range(1, count + len(used) + 1) if n not in used]
                plans = [service_instance(self.settings, service, n) for n in indices]
                await self._start_layer(plans[: count - len(current)])
            else:
                surplus = current[count:]
                await asyncio.gather(*(i.process.stop() for i in surplus))
                for instance in surplus:
                    self.instances.pop(instance.plan.instance_id, None)
                    self.report(f"{service:<10} stopped {instance.plan.instance_id}")
            return [
                i.plan.instance_id for i in self.instances.values() if i.plan.service == service
            ]

    # ---- status -----------------------------------------------------------------------------

    async def _registry_view(self) -> tuple[dict[str, str], list[dict[str, Any]]]:
        """Instance statuses as the registry has them, and each peer's own status."""
        statuses: dict[str, str] = {}
        peers: list[dict[str, Any]] = []
        assert self._http is not None
        for peer in self.settings.topology.registry.peers:
            entry: dict[str, Any] = {"url": peer.url, "zone": peer.zone, "reachable": False}
            try:
                async with self._http.get(
                    peer.url + "status", headers=self._registry_headers
                ) as response:
                    if response.status == 200:
                        entry.update(await response.json(), reachable=True)
                if not statuses:
                    headers = {"Accept": "application/json", **self._registry_headers}
                    async with self._http.get(peer.url + "apps", headers=headers) as response:
                        if response.status == 200:
                            apps = json_codec.decode_applications(await response.read())
                            statuses = {i.instance_id: i.status.value for i in apps}
            except (aiohttp.ClientError, TimeoutError, ValueError):
                pass
            peers.append(entry)
        return statuses, peers

    async def _health(self, address: str) -> str:
        """ok | not-ready (why: a consumer down, a dependency…) | failing (why) | unknown."""
        if not address or self._http is None:
            return "unknown"
        try:
            async with self._http.get(f"http://{address}/healthz") as response:
                if response.status != 200:
                    return f"failing ({response.status})"
            async with self._http.get(f"http://{address}/readyz") as response:
                if response.status == 200:
                    return "ok"
                body = await response.json(content_type=None)
                return f"not-ready ({body['error']['message']})"
        except (aiohttp.ClientError, TimeoutError, ValueError, KeyError, TypeError) as exc:
            return f"failing ({type(exc).__name__})"

    async def status(self) -> dict[str, Any]:
        statuses, peers = await self._registry_view()
        ordered = sorted(self.instances.values(), key=lambda i: (i.plan.layer, i.plan.instance_id))
        addresses = [i.address(self.datadir) for i in ordered]
        health = await asyncio.gather(*(self._health(a) for a in addresses))
        instances = [
            {
                "service": i.plan.service,
                "id": i.plan.instance_id,
                "address": address,
                "zone": i.plan.zone,
                "status": statuses.get(i.plan.instance_id, "MISSING"),
                "health": healthy,
                "process": i.process.state.value,
                "pid": i.process.pid,
                "restarts": i.process.restarts,
            }
            for i, address, healthy in zip(ordered, addresses, health, strict=True)
        ]
        engines = [
            {
                "name": e.engine.name,
                "url": e.engine.url,
                "process": e.process.state.value,
                "pid": e.process.pid,
                "restarts": e.process.restarts,
            }
            for e in self.engines
        ]
        return {
            "phase": self.phase,
            "data_dir": str(self.datadir.root),
            "topology": self.settings.topology.name,
            "launcher_pid": os.getpid(),
            "instances": instances,
            "engines": engines,
            "jobs": [
                {
                    "name": job.spec.name,
                    "process": job.state.value,
                    "pid": job.pid,
                    "exit_code": job.last_exit_code,
                }
                for job in self.jobs
            ],
            "registry": {"peers": peers},
        }
