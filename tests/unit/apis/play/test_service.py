import pytest
from tests.unit.apis.play.fakes import TITLE_ID, candidate

from reelcloud.apis.play.models import Caller, Heartbeat, PlayRequest
from reelcloud.platform.errors import (
    ConflictError,
    ForbiddenError,
    NotFoundError,
    UnavailableError,
)
from reelcloud.rpc import playback_pb2, steering_pb2

pytestmark = pytest.mark.asyncio

ALICE = Caller(member_id="m-alice", session_id="s-1", client_address="127.10.0.5")
BODY = PlayRequest(title_id=TITLE_ID, profile_id="p-alice", device_id="d-alice")


async def test_a_play_answers_the_steered_ocas_and_the_documents_urls(service, steering):
    played = await service.play(ALICE, BODY)
    assert [o.oca_id for o in played.ocas] == ["oca-a-1", "oca-ixp-1"]
    assert played.rungs == ["240p", "480p"]
    assert 'PATHWAY-ID="oca-a-1"' in played.hls.playlist.splitlines()[3]
    assert played.steering_fallback is False
    blob = played.hls.url.split("?s=", 1)[1]
    session = service.session(blob, played.play_id, "m-alice")
    assert [p.oca_id for p in session.pathways] == ["oca-a-1", "oca-ixp-1"]
    assert session.key_url == f"/api/license/key/{TITLE_ID}?t=tok"
    (request,) = steering.called("Steer")
    assert request.client_address == "127.10.0.5"
    assert len(request.content_ids) == 9  # both rungs' and the audio's files


async def test_a_title_no_server_holds_yet_is_409_and_its_slot_is_released(
    service, steering, playback, events
):
    steering.answers["Steer"] = steering_pb2.SteerResponse(steering_path="/steering/v1/x")
    with pytest.raises(ConflictError) as refused:
        await service.play(ALICE, BODY)
    assert refused.value.status == 409
    assert refused.value.code == "not_yet_available"
    assert refused.value.message == "this title is coming soon: no server holds it yet"
    (authorized,) = playback.called("Authorize")
    (stopped,) = playback.called("Stop")
    assert authorized.viewer.member_id == stopped.member_id
    assert stopped.member_id == "m-alice"
    assert stopped.play_id.startswith("pl-")
    assert [e.reason for e in events if e.event_type == "play.denied"] == ["not_yet_available"]


async def test_an_empty_steering_answer_is_not_reused(service, steering):
    steering.answers["Steer"] = steering_pb2.SteerResponse()
    with pytest.raises(ConflictError):
        await service.play(ALICE, BODY)
    # The OCAs have filled it: the next play asks steering again and plays.
    steering.answers["Steer"] = steering_pb2.SteerResponse(
        candidates=[candidate()], expires_at=2_000_000_000, steering_path="/s"
    )
    played = await service.play(ALICE, BODY)
    assert [o.oca_id for o in played.ocas] == ["oca-a-1"]
    assert len(steering.called("Steer")) == 2


async def test_a_play_failing_after_the_decision_gives_its_slot_back(
    service, license_service, playback
):
    license_service.down = True
    with pytest.raises(UnavailableError) as failed:
        await service.play(ALICE, BODY)
    assert failed.value.code == "license_unavailable"
    assert len(playback.called("Stop")) == 1


async def test_a_denied_play_says_why_and_took_no_slot(service, playback, events):
    playback.answers["Authorize"] = playback_pb2.AuthorizeResponse(
        allowed=False, reason="maturity", message="this profile may not watch R titles"
    )
    with pytest.raises(ForbiddenError) as denied:
        await service.play(ALICE, BODY)
    assert (denied.value.code, denied.value.message) == (
        "maturity",
        "this profile may not watch R titles",
    )
    assert playback.called("Stop") == []
    assert [e.reason for e in events if e.event_type == "play.denied"] == ["maturity"]


async def test_a_plays_documents_are_only_for_its_member_and_play(service):
    played = await service.play(ALICE, BODY)
    blob = played.hls.url.split("?s=", 1)[1]
    with pytest.raises(ForbiddenError, match="another member"):
        service.session(blob, played.play_id, "m-bruno")
    with pytest.raises(ForbiddenError, match="another play"):
        service.session(blob, "pl-other", "m-alice")
    session = service.session(blob, played.play_id, "m-alice")
    assert await service.master(session, blob) == played.hls.playlist
    for pathway, name in ((2, "hls_0.m3u8"), (-1, "hls_0.m3u8"), (0, "../manifest.json")):
        with pytest.raises(NotFoundError):
            await service.media(session, pathway, name)


async def test_heartbeat_and_stop_reach_playback_and_the_events(service, playback, events):
    played = await service.play(ALICE, BODY)
    session = service.session(played.hls.url.split("?s=", 1)[1], played.play_id, "m-alice")
    assert (await service.heartbeat(session, Heartbeat(position_s=4))).recorded
    assert (await service.stop(session, Heartbeat(position_s=6))).stopped
    assert [r.play_id for r in playback.called("Heartbeat")] == [played.play_id]
    kinds = [e.event_type for e in events]
    assert kinds == ["play.requested", "play.started", "play.heartbeat", "play.stopped"]


async def test_a_stopped_play_and_a_signed_out_sessions_plays_serve_nothing_more(service):
    stopped = await service.play(ALICE, BODY)
    blob = stopped.hls.url.split("?s=", 1)[1]
    await service.stop(service.session(blob, stopped.play_id, "m-alice"), Heartbeat(position_s=1))
    with pytest.raises(ForbiddenError) as ended:
        service.session(blob, stopped.play_id, "m-alice")
    assert ended.value.code == "play_ended"

    running = await service.play(ALICE, BODY)
    blob = running.hls.url.split("?s=", 1)[1]
    assert service.session(blob, running.play_id, "m-alice").session_id == "s-1"
    await service.revocations.revoke_session("s-1")
    with pytest.raises(ForbiddenError) as signed_out:
        service.session(blob, running.play_id, "m-alice")
    assert signed_out.value.code == "session_revoked"
