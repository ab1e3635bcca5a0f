"""The embedded PostgreSQL's roles: each database service's role owns its database and alone
reaches it, and a database an older version made as the superuser's is handed over, tables
and all, even after a hand-over cut short."""

import asyncpg
import pytest
from tests.support.engines import Postgres

pytestmark = pytest.mark.asyncio


async def superuser(pg, database="postgres"):
    return await asyncpg.connect(
        host=str(pg.engine.socket_dir), port=pg.engine.port, user="postgres", database=database
    )


async def test_an_old_superusers_database_is_handed_to_its_role_tables_and_all(tmp_path):
    pg = Postgres(tmp_path)
    await pg.start()
    try:
        # What a version before roles left: the database and its tables the superuser's.
        conn = await superuser(pg)
        await conn.execute('CREATE DATABASE "reelcloud_playback"')
        await conn.close()
        conn = await superuser(pg, "reelcloud_playback")
        await conn.execute(
            "CREATE TABLE plays (id serial PRIMARY KEY, member text);"
            "CREATE TABLE slots (n int) PARTITION BY RANGE (n);"
            "CREATE TABLE slots_0 PARTITION OF slots FOR VALUES FROM (0) TO (10);"
            "CREATE SEQUENCE loose; CREATE TYPE state AS ENUM ('on', 'off');"
            "INSERT INTO plays (member) VALUES ('m-alice')"
        )
        await conn.close()
        roles = {"reelcloud_playback": "p" * 32, "reelcloud_accounts": "a" * 32}
        await pg.engine.provision(roles)
        await pg.engine.provision(roles)  # idempotent

        own = await asyncpg.connect(pg.engine.role_url("reelcloud_playback", "p" * 32))
        try:
            await own.execute("INSERT INTO plays (member) VALUES ('m-bruno')")
            assert await own.fetchval("SELECT count(*) FROM plays") == 2
            await own.execute("ALTER TABLE slots ADD COLUMN extra int")  # an owner's right
            await own.execute("SELECT nextval('loose')")
            await own.execute("CREATE TABLE IF NOT EXISTS plays (id int)")
            owners = await own.fetch(
                "SELECT c.relname, pg_get_userbyid(c.relowner) AS owner FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public'"
            )
            assert {r["owner"] for r in owners} == {"reelcloud_playback"}
        finally:
            await own.close()
        url = pg.engine.role_url("reelcloud_accounts", "a" * 32)
        with pytest.raises(asyncpg.InsufficientPrivilegeError):  # another service's database
            await asyncpg.connect(url.rsplit("/", 1)[0] + "/reelcloud_playback")
    finally:
        await pg.stop()
