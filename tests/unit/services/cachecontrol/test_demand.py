"""Plays counted by the stream jobs, as cache control reads them: per (title, rung), followed by
the plan when they change, kept when the jobs service fails or is absent, shown in /v1/ocas."""

import logging

import pytest
import pytest_asyncio
from tests.support.factories import openconnect_dict
from tests.unit.services.cachecontrol.data import FakeOrigin, rendition_manifest, report

from reelcloud.platform.assets import AssetManifest
from reelcloud.platform.errors import NoInstancesError, ReelcloudError, UnavailableError
from reelcloud.platform.steering_state import SteeringState
from reelcloud.platform.testing import FakeClock
from reelcloud.platform.topology import OpenConnectConfig
from reelcloud.services.cachecontrol.demand import demand_of
from reelcloud.services.cachecontrol.models import PopularityCounts
from reelcloud.services.cachecontrol.service import CacheControl
from reelcloud.services.cachecontrol.settings import CacheControlSettings
from reelcloud.services.steering.table import SteeringTable

pytestmark = pytest.mark.asyncio

DAY_MS = 86_400_000
EMBEDDED = ["oca-a-1", "oca-a-2", "oca-b-1", "oca-b-2"]
# rendition_manifest's titles: 120 bytes, of which the base (audio, DASH, artwork) is 60 and
# each rung (240p, 480p) 30. An embedded OCA plans 190 bytes: one whole title, or a rung and
# the base of each of two titles.
EMBEDDED_CAPACITY = 200


def counts(*rows: tuple[str, int, int], days=(2 * DAY_MS, DAY_MS)) -> PopularityCounts:
    return PopularityCounts.model_validate(
        {
            "days": list(days),
            "counts": [{"title_id": t, "height": h, "plays": p} for t, h, p in rows],
        }
    )


class FakeJobs:
    """The jobs service's popularity: an answer, or the error reading it raises."""

    name = "jobs"

    def __init__(self, answer: PopularityCounts | ReelcloudError) -> None:
        self.answer = answer
        self.asked: list[int] = []

    async def popularity(self, days: int) -> PopularityCounts:
        self.asked.append(days)
        if isinstance(self.answer, ReelcloudError):
            raise self.answer
        return self.answer


def manifest(title_id: str, popularity: float) -> AssetManifest:
    m = rendition_manifest(title_id)
    return m.model_copy(
        update={"metadata": m.metadata.model_copy(update={"popularity": popularity})}
    )


@pytest_asyncio.fixture
async def control():
    doc = openconnect_dict()
    for oca in doc["ocas"]:
        if oca["id"] in EMBEDDED:
            oca["capacity_bytes"] = EMBEDDED_CAPACITY
    config = OpenConnectConfig.model_validate(doc)
    service = CacheControl(
        config, CacheControlSettings(placement_unit="rendition"), clock=FakeClock()
    )
    # Seeded popularity puts t-seeded first; nobody has counted a play of either yet.
    await service.refresh_catalog(FakeOrigin(manifest("t-seeded", 90), manifest("t-watched", 10)))
    for oca in config.ocas:
        service.receive(oca.id, report(0, full=[]))
    return service


def planned(control: CacheControl, oca_id: str) -> dict[str, set[str]]:
    """Per title in the OCA's fill manifest, most wanted first, the names of its files."""
    return {t.title_id: {f.name for f in t.files} for t in control.fill_manifest(oca_id).titles}


def whole(title_id: str) -> set[str]:
    return {f.name for f in rendition_manifest(title_id).files}


def base_and(representation: int) -> set[str]:
    """The files of a part: the base (audio, DASH chunk, manifest, artwork) and one rung."""
    base = {"hls_2.m3u8", "init-2.m4s", "enc-seg-2-00001.m4s", "chunk-0-00001.m4s"}
    base |= {"manifest.mpd", "artwork.jpg"}
    rung = {f"hls_{representation}.m3u8", f"init-{representation}.m4s"}
    return base | rung | {f"enc-seg-{representation}-00001.m4s"}


async def test_heights_counted_by_the_jobs_are_the_ladders_rungs():
    demand = demand_of(
        counts(("t-a", 1080, 7), ("t-a", 240, 2), ("t-b", 1080, 1), ("t-a", 1080, 3))
    )
    assert demand == {("t-a", "1080p"): 10.0, ("t-a", "240p"): 2.0, ("t-b", "1080p"): 1.0}


async def test_counted_plays_move_the_watched_rendition_to_the_embedded_ocas(control):
    assert planned(control, "oca-a-1") == {"t-seeded": whole("t-seeded")}  # by seeded rank
    jobs = FakeJobs(counts(("t-watched", 480, 50), ("t-seeded", 240, 5)))
    assert await control.read_demand(jobs) is True
    assert jobs.asked == [2]  # yesterday and today
    assert control.catalog.rendition_plays == {("t-watched", "480p"): 50, ("t-seeded", "240p"): 5}
    assert control.catalog.plays == {"t-watched": 50, "t-seeded": 5}
    for oca_id in EMBEDDED:
        # The watched rung and its base first, then t-seeded's 480p: its own few plays were
        # at 240p, but the catalog's 480p weighs more (the prior); its 240p no longer fits.
        assert planned(control, oca_id) == {"t-watched": base_and(1), "t-seeded": base_and(1)}
        assert list(planned(control, oca_id)) == ["t-watched", "t-seeded"]
    # The storage OCA still plans the whole catalog, most played first.
    assert planned(control, "oca-ixp-1") == {
        "t-watched": whole("t-watched"),
        "t-seeded": whole("t-seeded"),
    }
    assert control.summary().titles == ["t-watched", "t-seeded"]

    # Tomorrow t-seeded's 240p is what is watched: the plan follows.
    jobs.answer = counts(("t-seeded", 240, 80), ("t-watched", 480, 5))
    await control.read_demand(jobs)
    assert planned(control, "oca-a-1") == {"t-seeded": base_and(0), "t-watched": base_and(0)}
    assert list(planned(control, "oca-a-1")) == ["t-seeded", "t-watched"]


async def test_by_default_counted_plays_move_whole_titles_to_the_embedded_ocas(control):
    # Steering offers a play only OCAs that hold all its rungs: parts would go unplayed.
    control.options = CacheControlSettings()  # placement_unit: title
    control.replan()
    assert planned(control, "oca-a-1") == {"t-seeded": whole("t-seeded")}  # by seeded rank
    await control.read_demand(FakeJobs(counts(("t-watched", 480, 50), ("t-seeded", 240, 5))))
    for oca_id in EMBEDDED:
        assert planned(control, oca_id) == {"t-watched": whole("t-watched")}


async def test_nothing_counted_yet_places_whole_titles_as_before(control):
    before = planned(control, "oca-a-1")
    assert await control.read_demand(FakeJobs(counts(days=[DAY_MS]))) is True
    assert planned(control, "oca-a-1") == before == {"t-seeded": whole("t-seeded")}
    demand = control.summary().demand
    assert demand is not None
    assert (demand.source, demand.titles, demand.renditions, demand.plays) == ("jobs", 0, 0, 0)
    assert demand.days == [DAY_MS]


async def test_an_absent_jobs_service_leaves_cache_control_as_it_was(control):
    before = {oca.id: planned(control, oca.id) for oca in control.config.ocas}
    absent = FakeJobs(NoInstancesError("no usable instance of jobs"))
    for _ in range(3):
        assert await control.read_demand(absent) is False
    assert control.catalog.rendition_plays == {}
    assert {oca.id: planned(control, oca.id) for oca in control.config.ocas} == before
    assert control.summary().demand is None  # nothing read: the status says so


async def test_a_failing_jobs_service_keeps_the_last_counts_and_logs_once(control, caplog):
    caplog.set_level(logging.INFO, logger="reelcloud.services.cachecontrol.demand")
    jobs = FakeJobs(counts(("t-watched", 480, 50), ("t-seeded", 240, 3)))
    await control.read_demand(jobs)
    read_at = control.clock.now()
    plan = planned(control, "oca-a-1")
    assert list(plan) == ["t-watched", "t-seeded"]

    control.clock.advance(60)
    jobs.answer = UnavailableError("jobs unreachable: connection refused")
    for _ in range(5):
        assert await control.read_demand(jobs) is False
        control.clock.advance(5)
    assert control.catalog.rendition_plays == {("t-watched", "480p"): 50, ("t-seeded", "240p"): 3}
    assert planned(control, "oca-a-1") == plan
    demand = control.summary().demand
    assert demand is not None
    assert (demand.at, demand.failing_since) == (read_at, read_at + 60)
    assert (demand.titles, demand.renditions, demand.plays) == (2, 2, 53)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "keeping the last counts (2 renditions)" in warnings[0].getMessage()

    jobs.answer = counts(("t-watched", 480, 60))
    assert await control.read_demand(jobs) is True
    demand = control.summary().demand
    assert demand is not None
    assert (demand.at, demand.failing_since, demand.plays) == (control.clock.now(), None, 60)
    assert sum("again" in r.getMessage() for r in caplog.records) == 1
    jobs.answer = UnavailableError("jobs answered 503")
    await control.read_demand(jobs)
    await control.read_demand(jobs)
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 2  # a new outage


async def test_the_same_counts_again_change_nothing(control):
    demand = {("t-watched", "480p"): 50.0}
    assert control.catalog.count_plays(demand) is True
    assert control.catalog.count_plays(dict(demand)) is False
    assert control.catalog.count_plays({**demand, ("t-seeded", "240p"): 0.0}) is False
    assert control.catalog.count_plays({}) is True
    assert (control.catalog.rendition_plays, control.catalog.plays) == ({}, {})


async def test_an_oca_holding_its_planned_part_counts_the_title_held(control):
    await control.read_demand(FakeJobs(counts(("t-watched", 480, 50), ("t-seeded", 240, 5))))
    part = control.fill_manifest("oca-a-1").titles[0]
    assert part.title_id == "t-watched"
    control.receive("oca-a-1", report(1, added=sorted(f.content_id for f in part.files)))
    a1 = next(o for o in control.summary().ocas if o.id == "oca-a-1")
    # `reelcloud fill --now --wait` waits for held == planned: a part is what was planned.
    assert (a1.titles_held, a1.titles_planned, a1.titles_playable) == (1, 2, 0)


async def test_steering_serves_a_planned_part_only_to_plays_of_its_rungs_and_not_past_a_reload(
    control,
):
    """What steering makes of a part today. A play asks for its allowed rungs, the lowest up
    (playback's rules), so a part is steered to only by plays capped at its top rung; the
    content-steering manifest then keeps only pathways holding the whole title (the steering
    state's `titles_held`), so the player leaves the part at its first reload. Safe (never a
    URL that would 404), but an embedded part serves little until the steering state names
    the rungs each OCA holds and a steering session the play's rungs."""
    await control.read_demand(FakeJobs(counts(("t-seeded", 240, 80), ("t-watched", 480, 5))))
    seeded = control.fill_manifest("oca-a-1").titles[0]
    assert (seeded.title_id, {f.name for f in seeded.files}) == ("t-seeded", base_and(0))
    control.receive("oca-a-1", report(1, added=sorted(f.content_id for f in seeded.files)))
    whole_title = control.catalog.titles["t-seeded"]
    control.receive("oca-ixp-1", report(1, added=sorted(whole_title.content_ids)))
    steering = SteeringTable(control.config.origin_oca, 0, clock=control.clock)
    steering.load(SteeringState.model_validate_json(control.steering_state(None).model_dump_json()))

    def steered(rungs: list[str]) -> list[str]:
        asked = frozenset(manifest("t-seeded", 90).content_ids(rungs))
        return [choice.oca.id for choice in steering.rank("127.10.0.9", asked)]

    assert steered(["240p"]) == ["oca-a-1", "oca-ixp-1"]  # a play capped at 240p: the edge first
    assert steered(["240p", "480p"]) == ["oca-ixp-1"]  # the part lacks its 480p
    assert steering.order_pathways(["oca-a-1", "oca-ixp-1"], "t-seeded") == ["oca-ixp-1"]
