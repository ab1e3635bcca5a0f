import pytest
from tests.unit.apis.play.fakes import TITLE_ID

from reelcloud.platform.errors import UnauthenticatedError, UnavailableError
from reelcloud.rpc import steering_pb2

pytestmark = pytest.mark.asyncio


def steer_request(client="127.10.0.5", network=""):
    return steering_pb2.SteerRequest(
        client_address=client, network_address=network, title_id=TITLE_ID
    )


async def test_a_signed_out_session_plays_for_at_most_member_cache_s(make_store, accounts, clock):
    store = make_store(member_cache_s=5)
    assert (await store.member("m-alice", "s-1")).country == "US"
    accounts.answers["GetMember"] = UnauthenticatedError("this session has been signed out")
    clock.advance(4.9)
    assert (await store.member("m-alice", "s-1")).id == "m-alice"
    clock.advance(0.1)
    with pytest.raises(UnauthenticatedError):
        await store.member("m-alice", "s-1")
    # Nor does another instance, reading the replicated cache, get past those 5 s.
    with pytest.raises(UnauthenticatedError):
        await make_store("z2", member_cache_s=5).member("m-alice", "s-1")


async def test_an_accounts_outage_fails_the_member_past_its_freshness(make_store, accounts, clock):
    store = make_store()
    await store.member("m-alice", "s-1")
    await store.cache.flush()
    clock.advance(5)
    accounts.down = True
    with pytest.raises(UnavailableError):
        await store.member("m-alice", "s-1")


async def test_profiles_and_devices_serve_stale_through_an_accounts_outage(
    make_store, accounts, clock
):
    store = make_store()
    await store.profile("m-alice", "p-alice")
    await store.device("m-alice", "d-alice")
    clock.advance(600)
    accounts.down = True
    assert (await store.profile("m-alice", "p-alice")).maturity == "R"
    assert (await store.device("m-alice", "d-alice")).max_height == 1080


async def test_a_title_is_read_once_and_worked_out_once(make_store, catalog):
    store = make_store()
    first = await store.title(TITLE_ID)
    again = await store.title(TITLE_ID)
    assert again is first  # decoded near: no manifest parsed again
    assert len(catalog.called("GetTitle")) == 1
    assert first.key_id == "key-1"


async def test_with_catalog_down_a_new_instance_plays_titles_from_the_replicated_cache(
    make_store, catalog, clock
):
    first = make_store("z1")
    await first.title(TITLE_ID)
    await first.cache.flush()
    clock.advance(3600)  # long past its freshness
    catalog.down = True
    fresh_instance = make_store("z2")
    info = await fresh_instance.title(TITLE_ID)
    assert info.title.id == TITLE_ID
    assert info.manifest.rung_names() == ["240p", "480p"]


async def test_steering_answers_are_reused_per_client_network_and_simulated_network(
    make_store, steering
):
    store = make_store()
    await store.steer(steer_request("127.10.0.5"), ["240p"])
    await store.steer(steer_request("127.10.0.99"), ["240p"])  # same /24: reused
    assert len(steering.called("Steer")) == 1
    await store.steer(steer_request("127.10.1.5"), ["240p"])  # its token needs its own /24
    await store.steer(steer_request("127.10.0.5", network="127.20.0.7"), ["240p"])
    await store.steer(steer_request("127.10.0.5"), ["240p", "480p"])
    assert len(steering.called("Steer")) == 4


async def test_steering_down_serves_its_last_answer_marked_as_a_fallback(
    make_store, steering, clock
):
    store = make_store()
    assert (await store.steer(steer_request(), ["240p"])).fallback is False
    clock.advance(60)
    steering.down = True
    steered = await store.steer(steer_request(), ["240p"])
    assert steered.fallback is True
    assert [c.oca_id for c in steered.answer.candidates] == ["oca-a-1", "oca-ixp-1"]
    clock.advance(300)  # past steering_stale_s: its URLs are too old to hand out
    with pytest.raises(UnavailableError):
        await store.steer(steer_request(), ["240p"])
