"""A play, framework-free: who asks, what they may watch, where from, and the documents.

    1. in parallel: the member (with the session), the profile, the device, the title;
    2. playback decides and takes a stream slot (a denial is a 403 saying why);
    3. in parallel: steering ranks OCAs holding the files, license issues the play token;
    4. the answer: the OCAs, the multivariant playlist, the URLs of the play's documents.

A play that steering cannot place (no server holds the title yet) is a 409
`not_yet_available`; it and any play failing after step 2 give their stream slot back, so a
refused play never holds one. Reads go through `store.PlayStore` (caches and fallbacks);
playback and license are asked on every play.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from reelcloud.apis.play import documents
from reelcloud.apis.play.models import (
    Caller,
    DashLinks,
    Heartbeat,
    HeartbeatResponse,
    HlsLinks,
    OcaChoice,
    PlayRequest,
    PlayResponse,
    PlaySession,
    Steered,
    StopResponse,
    TitleInfo,
)
from reelcloud.apis.play.settings import PlaySettings
from reelcloud.apis.play.store import Calls
from reelcloud.platform.assets import HLS_PLAYLIST
from reelcloud.platform.errors import (
    ConflictError,
    ForbiddenError,
    NotFoundError,
    ReelcloudError,
    UnavailableError,
)
from reelcloud.platform.events import EventPayload
from reelcloud.platform.events.play import (
    PlayDenied,
    PlayHeartbeat,
    PlayRequested,
    PlayStarted,
    PlayStopped,
)
from reelcloud.platform.revocations import Revocations
from reelcloud.platform.signed_blobs import SignedBlobs
from reelcloud.rpc import accounts_pb2, license_pb2, playback_pb2, steering_pb2

log = logging.getLogger(__name__)

HEARTBEAT_INTERVAL_S = 10
NOT_YET_AVAILABLE = "this title is coming soon: no server holds it yet"


class PlayReads(Protocol):
    """What a play reads (`store.PlayStore`)."""

    async def member(self, member_id: str, session_id: str) -> accounts_pb2.Member: ...

    async def profile(self, member_id: str, profile_id: str) -> accounts_pb2.Profile: ...

    async def device(self, member_id: str, device_id: str) -> accounts_pb2.Device: ...

    async def title(self, title_id: str) -> TitleInfo: ...

    async def steer(self, request: steering_pb2.SteerRequest, rungs: list[str]) -> Steered: ...

    async def template(self, title_id: str, name: str) -> str: ...


class PlayService:
    def __init__(
        self,
        store: PlayReads,
        *,
        playback: Calls,
        license: Calls,
        blobs: SignedBlobs,
        options: PlaySettings,
        emit: Callable[[EventPayload], None] | None = None,
        revocations: Revocations | None = None,
    ) -> None:
        """`revocations`: signed-out sessions and ended plays (platform.revocations); their
        plays' documents and reports are refused."""
        self.store = store
        self.revocations = revocations or Revocations(None)
        self.playback = playback
        self.license = license
        self.blobs = blobs
        self.options = options
        self.emit = emit or (lambda event: None)

    async def play(self, caller: Caller, body: PlayRequest) -> PlayResponse:
        started = time.perf_counter()
        self.emit(
            PlayRequested(
                member_id=caller.member_id,
                title_id=body.title_id,
                profile_id=body.profile_id,
                device_id=body.device_id,
                client_address=caller.client_address,
            )
        )
        member, profile, device, info = await gather(
            self.store.member(caller.member_id, caller.session_id),
            self.store.profile(caller.member_id, body.profile_id),
            self.store.device(caller.member_id, body.device_id),
            self.store.title(body.title_id),
        )
        decision = await self.playback.call(
            "Authorize", authorize_request(member, profile, device, info)
        )
        if not decision.allowed:
            self._denied(member.id, info.title.id, decision.reason)
            raise ForbiddenError(decision.message, code=decision.reason)
        rungs = list(decision.rungs)
        try:
            steered, token = await gather(
                self.store.steer(steer_request(caller, info, rungs), rungs),
                self.license.call(
                    "IssueToken",
                    token_request(caller.session_id, member, device, info, decision, self.options),
                ),
            )
            if not steered.answer.candidates:
                self._denied(member.id, info.title.id, "not_yet_available")
                raise ConflictError(NOT_YET_AVAILABLE, code="not_yet_available")
        except ReelcloudError:
            await self._release(decision.play_id, member.id)
            raise
        pathways = [documents.Pathway(c.oca_id, c.base_url) for c in steered.answer.candidates]
        session = PlaySession(
            play_id=decision.play_id,
            member_id=member.id,
            session_id=caller.session_id,
            profile_id=profile.id,
            title_id=info.title.id,
            rungs=rungs,
            pathways=pathways,
            key_url=token.key_path,
            steering_url=steered.answer.steering_path,
            expires_at=min(int(steered.answer.expires_at or time.time() + 3600), token.expires_at),
        )
        blob = self.blobs.encode(session.to_blob())
        self.emit(
            PlayStarted(
                play_id=session.play_id,
                member_id=member.id,
                profile_id=profile.id,
                title_id=info.title.id,
                device_id=device.id,
                country=member.country,
                rungs=rungs,
                ocas=[w.oca_id for w in pathways],
                steering_fallback=steered.fallback,
                latency_ms=round((time.perf_counter() - started) * 1000, 2),
            )
        )
        links = Links(session.play_id, blob)
        return PlayResponse(
            play_id=session.play_id,
            title_id=info.title.id,
            rungs=rungs,
            ocas=[
                OcaChoice(oca_id=c.oca_id, site=c.site, kind=c.site_kind, reason=c.reason)
                for c in steered.answer.candidates
            ],
            hls=HlsLinks(url=links.master, playlist=self._multivariant(info, session, links)),
            dash=DashLinks(url=links.mpd),
            steering_url=session.steering_url,
            key_url=session.key_url,
            heartbeat_url=links.heartbeat,
            stop_url=links.stop,
            heartbeat_interval_s=HEARTBEAT_INTERVAL_S,
            steering_fallback=steered.fallback,
            expires_at=token.expires_at,
        )

    def _denied(self, member_id: str, title_id: str, reason: str) -> None:
        self.emit(PlayDenied(member_id=member_id, title_id=title_id, reason=reason))

    async def _release(self, play_id: str, member_id: str) -> None:
        """Give a refused play's stream slot back (best effort: playback frees a silent slot
        by itself after its `silence_s`)."""
        try:
            await self.playback.call(
                "Stop", playback_pb2.StopRequest(play_id=play_id, member_id=member_id)
            )
        except ReelcloudError as exc:
            log.warning("could not release the stream slot of refused play %s: %s", play_id, exc)

    # ---- the play's documents and reports ----------------------------------------------------

    def session(self, blob: str, play_id: str, member_id: str) -> PlaySession:
        """The play's context from its signed blob; only for the member who started it."""
        session = PlaySession.from_blob(self.blobs.decode(blob))
        if session.play_id != play_id:
            raise ForbiddenError("this play session belongs to another play")
        if session.member_id != member_id:
            raise ForbiddenError("this play belongs to another member")
        if self.revocations.play_ended(session.play_id):
            raise ForbiddenError("this play has ended: start it again", code="play_ended")
        if self.revocations.session_revoked(session.session_id):
            raise ForbiddenError("this play's session was signed out", code="session_revoked")
        return session

    async def master(self, session: PlaySession, blob: str) -> str:
        info = await self.store.title(session.title_id)
        return self._multivariant(info, session, Links(session.play_id, blob))

    async def media(self, session: PlaySession, pathway: int, name: str) -> str:
        if not 0 <= pathway < len(session.pathways):
            raise NotFoundError("no such pathway in this play")
        if not HLS_PLAYLIST.match(name):
            raise NotFoundError("no such playlist")
        template = await self.store.template(session.title_id, name)
        return documents.media_playlist(template, session.pathways[pathway], session.key_url)

    async def mpd(self, session: PlaySession) -> str:
        template = await self.store.template(session.title_id, "manifest.mpd")
        return documents.mpd(template, session.pathways, f"{session.steering_url}&f=dash")

    async def heartbeat(self, session: PlaySession, beat: Heartbeat) -> HeartbeatResponse:
        await self.playback.call(
            "Heartbeat",
            playback_pb2.HeartbeatRequest(play_id=session.play_id, member_id=session.member_id),
        )
        self.emit(PlayHeartbeat(**progress(session, beat)))
        return HeartbeatResponse(recorded=True)

    async def stop(self, session: PlaySession, beat: Heartbeat) -> StopResponse:
        answer = await self.playback.call(
            "Stop", playback_pb2.StopRequest(play_id=session.play_id, member_id=session.member_id)
        )
        try:  # its playlists and key stop answering everywhere, not only where it was stopped
            await self.revocations.end_play(session.play_id)
        except UnavailableError as exc:
            log.warning("play %s stopped but not shared at once: %s", session.play_id, exc)
        self.emit(PlayStopped(**progress(session, beat)))
        return StopResponse(stopped=answer.stopped)

    @staticmethod
    def _multivariant(info: TitleInfo, session: PlaySession, links: Links) -> str:
        return documents.multivariant(
            info.manifest,
            session.rungs,
            session.pathways,
            links.media_template,
            f"{session.steering_url}&f=hls",
        )


class Links:
    """The URLs of one play's documents, each carrying the play's signed context."""

    def __init__(self, play_id: str, blob: str) -> None:
        base = f"/api/play/{play_id}"
        query = f"?s={blob}"
        self.master = f"{base}/master.m3u8{query}"
        self.media_template = f"{base}/media/{{pathway}}/{{playlist}}{query}"
        self.mpd = f"{base}/manifest.mpd{query}"
        self.heartbeat = f"{base}/heartbeat{query}"
        self.stop = f"{base}/stop{query}"


def authorize_request(
    member: accounts_pb2.Member,
    profile: accounts_pb2.Profile,
    device: accounts_pb2.Device,
    info: TitleInfo,
) -> playback_pb2.AuthorizeRequest:
    title = info.title
    licensed = any(w.country == member.country and w.active for w in title.licenses)
    return playback_pb2.AuthorizeRequest(
        viewer=playback_pb2.Viewer(
            member_id=member.id,
            country=member.country,
            plan=member.plan,
            status=member.status,
            plan_max_height=member.max_height,
            max_streams=member.max_streams,
            profile_id=profile.id,
            profile_maturity=profile.maturity,
            device_id=device.id,
            device_max_height=device.max_height,
        ),
        title=playback_pb2.TitleFacts(
            title_id=title.id, maturity=title.maturity, licensed=licensed, rungs=info.rungs
        ),
    )


def steer_request(caller: Caller, info: TitleInfo, rungs: list[str]) -> steering_pb2.SteerRequest:
    return steering_pb2.SteerRequest(
        client_address=caller.client_address,
        network_address=caller.network,
        title_id=info.title.id,
        content_ids=info.content_ids(rungs),
    )


def token_request(
    session_id: str,
    member: accounts_pb2.Member,
    device: accounts_pb2.Device,
    info: TitleInfo,
    decision: playback_pb2.AuthorizeResponse,
    options: PlaySettings,
) -> license_pb2.IssueTokenRequest:
    return license_pb2.IssueTokenRequest(
        member_id=member.id,
        title_id=info.title.id,
        device_id=device.id,
        play_id=decision.play_id,
        key_id=info.key_id,
        ttl_s=options.play_ttl_s,
        session_id=session_id,
    )


def progress(session: PlaySession, beat: Heartbeat) -> dict[str, Any]:
    """What heartbeat and stop events say: which play, where it was, how it went."""
    return {
        "play_id": session.play_id,
        "member_id": session.member_id,
        "profile_id": session.profile_id,
        "title_id": session.title_id,
        "position_s": beat.position_s,
        "qoe": beat.qoe.reported(),
    }


async def gather(*calls: Awaitable[Any]) -> list[Any]:
    """Run calls in parallel; the first failure wins (the others are cancelled)."""
    tasks = [asyncio.ensure_future(c) for c in calls]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:
            task.cancel()
        raise
