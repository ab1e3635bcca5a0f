import orjson
import pytest
import pytest_asyncio
from tests.support.factories import openconnect_dict
from tests.unit.services.cachecontrol.data import (
    DELAY_S,
    FakeOrigin,
    rendition_manifest,
    report,
)

from reelcloud.platform.steering_state import SteeringState
from reelcloud.platform.testing import FakeClock
from reelcloud.platform.topology import OpenConnectConfig
from reelcloud.services.cachecontrol.service import CacheControl
from reelcloud.services.cachecontrol.settings import CacheControlSettings
from reelcloud.services.steering.table import SteeringTable

pytestmark = pytest.mark.asyncio


@pytest_asyncio.fixture
async def control():
    config = OpenConnectConfig.model_validate(openconnect_dict())
    service = CacheControl(config, CacheControlSettings(offer_delay_s=DELAY_S), clock=FakeClock())
    await service.refresh_catalog(FakeOrigin(rendition_manifest("t-hot")))
    for oca in config.ocas:
        service.receive(oca.id, report(0, full=[]))
    return service


def wire(model):
    """What the route sends: the model as JSON, read back as a client would."""
    return orjson.loads(model.model_dump_json())


async def test_steering_state_sends_holdings_only_when_they_or_the_titles_changed(control):
    first = wire(control.steering_state(None))
    version = first["content_version"]
    assert all(o["content_ids"] == [] and o["titles_held"] == [] for o in first["ocas"])
    again = wire(control.steering_state(version))
    assert again["content_version"] == version
    assert all(o["content_ids"] is None and o["titles_held"] is None for o in again["ocas"])
    assert {o["id"]: o["reports_ok"] for o in again["ocas"]}["oca-a-1"] is True

    needed = sorted(control.catalog.titles["t-hot"].playable_ids)
    control.receive("oca-a-1", report(1, added=needed))
    changed = wire(control.steering_state(version))
    assert changed["content_version"] != version
    a1 = next(o for o in changed["ocas"] if o["id"] == "oca-a-1")
    assert (a1["content_ids"], a1["titles_held"]) == (needed, ["t-hot"])

    # A new title may change which titles an OCA holds every playable file of: sent again.
    await control.refresh_catalog(
        FakeOrigin(rendition_manifest("t-hot"), rendition_manifest("t-new"))
    )
    renewed = wire(control.steering_state(changed["content_version"]))
    assert renewed["content_version"] != changed["content_version"]
    assert [o["titles_held"] for o in renewed["ocas"]][:2] == [["t-hot"], []]


async def test_a_restarted_cache_control_never_reuses_a_version(control):
    other = CacheControl(control.config, control.options, clock=control.clock)
    await other.refresh_catalog(FakeOrigin(rendition_manifest("t-hot")))
    for oca in control.config.ocas:
        other.receive(oca.id, report(0, full=[]))
    # Same counts, new epoch: steering, still on the old version, gets the holdings again.
    assert other.content_version != control.content_version
    assert other.steering_state(control.content_version).ocas[0].content_ids == []


async def test_summary_counts_titles_held_playable_and_planned(control):
    hot = control.catalog.titles["t-hot"]
    control.receive("oca-ixp-1", report(1, added=sorted(hot.playable_ids)))
    summary = {o.id: o for o in control.summary().ocas}
    ixp = summary["oca-ixp-1"]
    assert (ixp.titles_held, ixp.titles_playable, ixp.titles_planned) == (0, 1, 1)
    control.receive("oca-ixp-1", report(2, added=sorted(hot.content_ids - hot.playable_ids)))
    assert control.summary().ocas[-1].titles_held == 1
    assert control.summary().titles == ["t-hot"]


async def test_fill_manifests_keep_the_shape_ocas_read(control):
    manifest = wire(control.fill_manifest("oca-ixp-1"))
    assert set(manifest) == {"oca_id", "generated_at", "fill_now", "titles"}
    (title,) = manifest["titles"]
    assert set(title) == {"title_id", "rank", "new", "size", "files", "sources", "origin"}
    assert title["origin"] is True  # nobody has it: the IXP fills from the origin
    assert set(title["files"][0]) == {"name", "content_id", "size"}
    assert control.fill_now().fill_now == 1
    assert wire(control.fill_manifest("oca-ixp-1"))["fill_now"] == 1


async def test_playable_titles_are_exactly_those_steering_can_serve_to_any_client(control):
    """Cache control's availability and steering's answer agree: steering is loaded with the
    state cache control sends it, on the same clock, as holders go stale and recover."""
    hot = control.catalog.titles["t-hot"]
    needed = frozenset(hot.playable_ids)
    steering = SteeringTable(control.config.origin_oca, 0, clock=control.clock)
    clients = ["127.10.0.9", "127.20.0.9", "192.0.2.1"]

    def agree():
        control.clock.advance(DELAY_S)  # past the offer delay, so only usability decides
        steering.load(SteeringState.model_validate(wire(control.steering_state(None))))
        (availability,) = control.availability().titles
        steered = [steering.rank(c, needed) for c in clients]
        for choices in steered:
            assert bool(choices) == availability.playable
            assert {c.oca.id for c in choices} <= set(availability.ocas)
        return availability.playable

    for oca in control.config.ocas:
        control.receive(oca.id, report(1))
    assert agree() is False  # published, held by nobody
    control.receive("oca-b-1", report(2, added=sorted(needed)))  # only ISP B's OCA has it
    assert agree() is True
    control.clock.advance(2.0)  # every report is now stale
    assert agree() is False
    control.receive("oca-b-1", report(3))
    assert agree() is True
    control.receive("oca-b-1", report(4, draining=True))
    assert agree() is False
