"""The renewal loop on a fake clock: it runs what is due at the clock's time, every interval,
and a run that fails does not stop the ones after it."""

import asyncio

import pytest

from reelcloud.services.billing.models import RunReport
from reelcloud.services.billing.periods import utc
from reelcloud.services.billing.renewals import RenewalLoop

pytestmark = pytest.mark.asyncio


class ScriptedRenewals:
    def __init__(self, failures: int = 0) -> None:
        self.runs = []
        self.failures = failures

    async def run(self, until):
        self.runs.append(until)
        if len(self.runs) <= self.failures:
            raise RuntimeError("the database went away")
        return RunReport(renewed=1)


async def test_each_run_renews_up_to_the_clocks_time_then_waits_an_interval(clock):
    renewals = ScriptedRenewals(failures=1)
    slept = []
    enough = asyncio.Event()

    async def sleep(seconds):
        slept.append(seconds)
        clock.advance(86_400)  # a simulated day passes between runs
        if len(slept) == 3:
            enough.set()
        await asyncio.sleep(0)

    loop = RenewalLoop(renewals, clock, 60.0, sleep=sleep)  # type: ignore[arg-type]
    start = clock.now()
    loop.start()
    await asyncio.wait_for(enough.wait(), 10)
    await loop.aclose()
    assert renewals.runs[:3] == [utc(start), utc(start + 86_400), utc(start + 2 * 86_400)]
    assert slept[:3] == [60.0, 60.0, 60.0]
    assert loop.runs >= 2  # the first run failed, and the loop went on


async def test_run_once_reports(clock):
    loop = RenewalLoop(ScriptedRenewals(), clock, 60.0)  # type: ignore[arg-type]
    assert (await loop.run_once()).renewed == 1
    assert loop.runs == 1
