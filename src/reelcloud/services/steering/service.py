"""Steering's logic, framework-free: a play's ranked, signed OCA URLs; the content-steering
manifest (HLS `PATHWAY-PRIORITY`, DASH `SERVICE-LOCATION-PRIORITY`) players re-read during
the play; and keeping cache control's state, polled every `state_poll_s` (freshness is judged
again at every decision)."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from typing import Protocol

from reelcloud.platform.clock import Clock, SystemClock
from reelcloud.platform.errors import BadRequestError, ReelcloudError
from reelcloud.platform.signed_blobs import SignedBlobs
from reelcloud.platform.signed_urls import SCOPE, UrlSigner, client_network
from reelcloud.platform.steering_state import SteeringState
from reelcloud.platform.topology import OpenConnectConfig
from reelcloud.services.steering.models import (
    Candidate,
    SteerAnswer,
    SteeringManifest,
    TableOca,
    TableReply,
)
from reelcloud.services.steering.settings import SteeringSettings
from reelcloud.services.steering.table import DEFAULT_RESULTS, SteeringTable

log = logging.getLogger(__name__)

MANIFEST_PATH = "/steering/v1/manifest"
MAX_CONTENT_IDS = 10_000
FORMATS = ("hls", "dash")


class StateSource(Protocol):
    """Cache control's steering state (`store.CacheControlState`)."""

    async def fetch(self, known_version: str | None) -> SteeringState: ...


class SteeringService:
    def __init__(
        self,
        config: OpenConnectConfig,
        options: SteeringSettings,
        clock: Clock | None = None,
    ) -> None:
        self.config = config
        self.options = options
        self.clock = clock or SystemClock()
        self.table = SteeringTable(
            config.origin_oca, config.report_interval_s * config.stale_after_reports, self.clock
        )
        self.signer = UrlSigner(config.url_keys())
        self.sessions = SignedBlobs(next(reversed(config.url_keys().values())), "steering session")
        self.loaded = False  # ready once cache control's state was read

    def steer(
        self,
        *,
        title_id: str,
        client_address: str,
        network_address: str = "",
        content_ids: list[str] | tuple[str, ...] = (),
        max_results: int = 0,
    ) -> SteerAnswer:
        """The OCAs holding every one of `content_ids` for this client, best first; none when
        no usable OCA holds them (the title is not playable yet)."""
        if not SCOPE.match(title_id):
            raise BadRequestError("title_id is not a title id")
        if len(content_ids) > MAX_CONTENT_IDS:
            raise BadRequestError(f"at most {MAX_CONTENT_IDS} content ids")
        try:
            network = client_network(client_address)
            address = network_address or client_address
            ipaddress.ip_address(address)
        except ValueError as exc:
            raise BadRequestError(f"not an IP address: {exc}") from exc
        limit = min(max_results or DEFAULT_RESULTS, DEFAULT_RESULTS)
        choices = self.table.rank(address, frozenset(content_ids), limit)
        expires = int(self.clock.now()) + self.config.url_ttl_s
        token = self.signer.sign(title_id, network, expires)
        candidates = [
            Candidate(
                oca_id=choice.oca.id,
                site=choice.oca.site,
                site_kind=choice.oca.site_kind,
                base_url=f"http://{choice.oca.address}:{choice.oca.port}/v/{token}/{title_id}/",
                rank=rank,
                reason=choice.reason,
            )
            for rank, choice in enumerate(choices, start=1)
        ]
        session = self.sessions.encode(
            {"t": title_id, "p": [c.oca_id for c in candidates], "x": expires}
        )
        return SteerAnswer(candidates, expires, f"{MANIFEST_PATH}?s={session}")

    def manifest(self, session: str, fmt: str) -> SteeringManifest:
        """The play's pathways as steering would order them now (see `order_pathways`)."""
        if fmt not in FORMATS:
            raise BadRequestError("f must be hls or dash")
        data = self.sessions.decode(session, now=self.clock.now())
        pathways = data.get("p")
        title_id = data.get("t")
        if not isinstance(pathways, list) or not isinstance(title_id, str):
            raise BadRequestError("the steering session names no title and pathways")
        ordered = self.table.order_pathways([str(p) for p in pathways], title_id)
        reload_uri = f"{MANIFEST_PATH}?s={session}&f={fmt}"
        ttl = self.options.manifest_ttl_s
        if fmt == "dash":
            return SteeringManifest(
                ttl_s=ttl, reload_uri=reload_uri, service_location_priority=ordered
            )
        return SteeringManifest(ttl_s=ttl, reload_uri=reload_uri, pathway_priority=ordered)

    def table_view(self) -> TableReply:
        """What steering believes now (for people and `reelcloud status`)."""
        table = self.table
        now = self.clock.now()
        return TableReply(
            content_version=table.content_version,
            ocas=[
                TableOca(
                    id=view.id,
                    site=view.site,
                    usable=view.is_usable(now, table.stale_after_s),
                    files=len(view.content),
                    titles=len(view.titles),
                    load=view.load,
                )
                for view in table.ocas.values()
            ],
        )

    async def poll_forever(self, source: StateSource) -> None:
        while True:
            try:
                self.table.load(await source.fetch(self.table.content_version))
                self.loaded = True
            except ReelcloudError as exc:
                # Keep steering with the last state: freshness still ages it out.
                log.warning("steering state refresh failed: %s", exc.message)
            await asyncio.sleep(self.options.state_poll_s)
