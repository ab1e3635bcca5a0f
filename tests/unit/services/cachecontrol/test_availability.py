"""Which titles are playable, on a fake clock: held with every playable file by a fresh,
healthy OCA, offered `offer_delay_s` after that, withdrawn as soon as nobody usable holds it."""

import pytest
import pytest_asyncio
from tests.support.factories import openconnect_dict
from tests.unit.services.cachecontrol.data import (
    DELAY_S,
    FakeOrigin,
    cid,
    rendition_manifest,
    report,
)

from reelcloud.platform.assets import AssetManifest
from reelcloud.platform.testing import FakeClock
from reelcloud.platform.topology import OpenConnectConfig
from reelcloud.services.cachecontrol.service import CacheControl
from reelcloud.services.cachecontrol.settings import CacheControlSettings
from reelcloud.services.cachecontrol.titles import Title


@pytest_asyncio.fixture
async def control():
    clock = FakeClock()
    config = OpenConnectConfig.model_validate(openconnect_dict())  # stale after 1.5 s
    service = CacheControl(config, CacheControlSettings(offer_delay_s=DELAY_S), clock=clock)
    await service.refresh_catalog(
        FakeOrigin(rendition_manifest("t-hot"), rendition_manifest("t-cold"))
    )
    for oca in config.ocas:
        service.receive(oca.id, report(0, full=[]))
    return service


def playable(control: CacheControl) -> dict[str, tuple[bool, float, list[str]]]:
    return {a.title_id: (a.playable, a.since, a.ocas) for a in control.availability().titles}


def title(control: CacheControl, title_id: str) -> Title:
    return control.catalog.titles[title_id]


@pytest.mark.asyncio
async def test_a_published_title_nobody_holds_is_not_playable(control):
    start = control.clock.now()
    assert playable(control) == {"t-hot": (False, start, []), "t-cold": (False, start, [])}


@pytest.mark.asyncio
async def test_playable_once_an_oca_holds_every_playable_file_and_the_offer_delay_passed(control):
    hot = title(control, "t-hot")
    needed = sorted(hot.playable_ids)
    dash_and_artwork = hot.content_ids - hot.playable_ids
    assert len(needed) == 9  # two rungs and the audio: playlist, init, segment each
    assert len(dash_and_artwork) == 3
    # Every file but one segment is not enough.
    control.receive("oca-ixp-1", report(1, added=needed[:-1]))
    assert playable(control)["t-hot"][0] is False
    control.receive("oca-ixp-1", report(2, added=needed[-1:]))
    held_at = control.clock.now()
    # Held, but not offered yet; still "not playable since it was first seen".
    assert playable(control)["t-hot"] == (False, held_at, ["oca-ixp-1"])
    control.clock.advance(DELAY_S - 0.1)
    assert playable(control)["t-hot"][0] is False  # steering may not have seen it yet
    control.clock.advance(0.1)
    control.receive("oca-ixp-1", report(3))  # still reporting
    assert playable(control)["t-hot"] == (True, held_at + DELAY_S, ["oca-ixp-1"])
    assert playable(control)["t-cold"][0] is False
    # DASH files and artwork are not needed for a play.
    assert not dash_and_artwork & set(needed)


@pytest.mark.asyncio
async def test_a_stale_or_unhealthy_holder_makes_the_title_coming_soon_unless_another_holds_it(
    control,
):
    needed = sorted(title(control, "t-hot").playable_ids)
    control.receive("oca-ixp-1", report(1, added=needed))
    control.receive("oca-a-1", report(1, added=needed))
    control.clock.advance(DELAY_S)
    for oca_id in ("oca-ixp-1", "oca-a-1"):
        control.receive(oca_id, report(2))
    assert playable(control)["t-hot"][:1] == (True,)
    assert sorted(playable(control)["t-hot"][2]) == ["oca-a-1", "oca-ixp-1"]

    control.clock.advance(1.0)
    control.receive("oca-ixp-1", report(3))  # oca-a-1 goes quiet
    control.clock.advance(0.6)  # oca-a-1's last report is 1.6 s old: stale (> 3 x 0.5 s)
    control.receive("oca-ixp-1", report(4))
    assert playable(control)["t-hot"][0] is True
    assert playable(control)["t-hot"][2] == ["oca-ixp-1"]

    control.receive("oca-ixp-1", report(5, draining=True))
    now = control.clock.now()
    assert playable(control)["t-hot"] == (False, now, [])
    # Back in service: offered again only after the delay.
    control.clock.advance(0.1)
    control.receive("oca-ixp-1", report(6))
    assert playable(control)["t-hot"][0] is False
    control.clock.advance(DELAY_S)
    control.receive("oca-ixp-1", report(7, error_rate=0.9))  # failing requests: unhealthy
    assert playable(control)["t-hot"][0] is False


@pytest.mark.asyncio
async def test_evicting_a_file_withdraws_the_title(control):
    needed = sorted(title(control, "t-hot").playable_ids)
    control.receive("oca-ixp-1", report(1, added=needed))
    control.clock.advance(DELAY_S)
    control.receive("oca-ixp-1", report(2))
    assert playable(control)["t-hot"][0] is True
    control.receive("oca-ixp-1", report(3, removed=needed[:1]))
    assert playable(control)["t-hot"][0] is False


@pytest.mark.asyncio
async def test_a_title_without_renditions_needs_every_file(control):
    bare = AssetManifest.model_validate(
        {"title_id": "t-bare", "files": [{"name": "seg_0.m4s", "content_id": cid("s"), "size": 1}]}
    )
    assert Title.from_manifest(bare).playable_ids == {cid("s")}
    await control.refresh_catalog(
        FakeOrigin(rendition_manifest("t-hot"), rendition_manifest("t-cold"), bare)
    )
    assert playable(control)["t-bare"][0] is False  # never playable merely by being empty
    control.receive("oca-ixp-1", report(1, added=[cid("s")]))
    control.clock.advance(DELAY_S)
    control.receive("oca-ixp-1", report(2))
    assert playable(control)["t-bare"][0] is True
