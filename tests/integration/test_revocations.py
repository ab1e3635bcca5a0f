"""Signed-out sessions and ended plays reach every watching process through a real NATS
JetStream key-value bucket, including processes started later and ones that lived through a
server restart."""

import pytest
import pytest_asyncio
from tests.support.waiting import wait_for

from reelcloud.platform.errors import UnavailableError
from reelcloud.platform.revocations import Revocations

pytestmark = pytest.mark.asyncio


@pytest_asyncio.fixture
async def started():
    made = []

    async def start(url, **kw):
        revocations = Revocations(url, **kw)
        await revocations.start()
        made.append(revocations)
        await wait_for(revocations.synced.is_set, what="the revocations bucket is read")
        return revocations

    yield start
    for revocations in made:
        await revocations.aclose()


async def test_a_revocation_reaches_watchers_now_and_those_that_start_later(nats_server, started):
    writer = await started(nats_server.url, watch=False)
    gateway = await started(nats_server.url)
    await writer.revoke_session("s-signed-out")
    await writer.end_play("pl-stopped")
    await wait_for(lambda: gateway.session_revoked("s-signed-out"), what="the gateway learns")
    await wait_for(lambda: gateway.play_ended("pl-stopped"), what="the play's end is known")
    assert not gateway.session_revoked("s-still-signed-in")
    assert not gateway.play_ended("pl-playing")

    later = await started(nats_server.url)  # a process started after the logout
    assert later.session_revoked("s-signed-out")
    assert later.play_ended("pl-stopped")


async def test_a_watcher_that_lives_through_a_server_restart_hears_what_came_after(
    nats_server, started
):
    watcher = await started(nats_server.url)
    writer = await started(nats_server.url, watch=False)
    await writer.revoke_session("s-before")
    await wait_for(lambda: watcher.session_revoked("s-before"), what="the first revocation")
    nats_server.stop()
    nats_server.start()
    await wait_for(
        lambda: _revoked_after_restart(writer, "s-after"),
        what="the writer puts again once the server is back",
        ignoring=(UnavailableError,),
    )
    await wait_for(lambda: watcher.session_revoked("s-after"), what="the watcher hears it")
    assert watcher.session_revoked("s-before")


async def _revoked_after_restart(writer, session_id):
    await writer.revoke_session(session_id)
    return True


async def test_without_the_bus_a_process_still_knows_its_own_revocations(started):
    alone = Revocations(None)
    await alone.revoke_session("s-1")
    assert alone.session_revoked("s-1")
    assert not alone.session_revoked("s-2")


async def test_ids_no_platform_makes_are_never_stored(nats_server, started):
    writer = await started(nats_server.url, watch=False)
    await writer.revoke_session("s.*>")  # a subject wildcard, not an id
    assert not writer.session_revoked("s.*>")
