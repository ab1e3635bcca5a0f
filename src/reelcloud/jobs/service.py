"""Runs the jobs and answers from their results.

Each job is a Quix Streams application (its own consumer group, state and thread) whose
windows' changes a `ResultSink` writes to the database at each checkpoint, the latest value
per window only. A job that fails is logged and started again after a backoff, from its last
checkpoint (offsets and state are committed together, so nothing counts twice or goes
missing); `/readyz` names it meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from quixstreams import Application
from quixstreams.sinks import BatchingSink, SinkBatch

from reelcloud.jobs import popularity, qoe, sps, steps, trending
from reelcloud.jobs.models import (
    JobStatus,
    OcaQoe,
    Popularity,
    RenditionPlays,
    Sps,
    SpsMinute,
    Trending,
    TrendingTitle,
)
from reelcloud.jobs.models import Qoe as QoeReport
from reelcloud.jobs.settings import JobName, JobsSettings
from reelcloud.jobs.store import Result, Results
from reelcloud.platform.errors import NotFoundError
from reelcloud.platform.kafka import HEARTBEAT_INTERVAL_MS, SESSION_TIMEOUT_MS, ensure_topics

log = logging.getLogger(__name__)

BUILDERS: dict[str, Callable[[Application, JobsSettings, Any, steps.OnLate], None]] = {
    "trending": trending.build,
    "popularity": popularity.build,
    "sps": sps.build,
    "qoe": qoe.build,
}
TOPICS = {"trending": [trending.TOPIC], "popularity": [popularity.TOPIC],
          "sps": [sps.STARTS, sps.REQUESTS], "qoe": [qoe.TOPIC]}  # fmt: skip
WRITE_TIMEOUT_S = 30.0
FIRST_RETRY_S, MAX_RETRY_S = 1.0, 30.0


class ResultSink(BatchingSink):
    """A job's window updates, to the database: called by Quix at each checkpoint (in the
    job's thread), before the offsets are committed, so a failed write replays the batch."""

    def __init__(self, job: str, write: Callable[[list[Result]], None]) -> None:
        super().__init__()
        self.job = job
        self._write = write

    def write(self, batch: SinkBatch) -> None:
        latest: dict[tuple[int, str], Result] = {}
        for item in batch:
            window = item.value
            key = item.key.decode() if isinstance(item.key, bytes) else str(item.key)
            if self.job == "sps":
                key = f"{batch.topic}/{key}"  # two topics' keys, apart
            latest[(window["start"], key)] = Result(
                self.job, window["start"], window["end"], key, window["value"]
            )
        if latest:
            self._write(list(latest.values()))


class _Application(Application):
    """Quix's application, run in a thread of the service: the service's process owns the
    signals (Quix installs handlers, which only the main thread may), and stops it itself."""

    def _setup_signal_handlers(self) -> None:
        pass


class JobRunner:
    """One job in its own thread: built, run, and built again after a failure."""

    def __init__(
        self,
        name: JobName,
        options: JobsSettings,
        kafka_url: str,
        state_dir: Path,
        write: Callable[[list[Result]], None],
    ) -> None:
        self.name = name
        self.options = options
        self.kafka_url = kafka_url
        self.state_dir = state_dir
        self._write = write
        self._stopping = threading.Event()
        self._app: _Application | None = None
        self._thread: threading.Thread | None = None
        self.running = False
        self.restarts = 0
        self.last_error: str | None = None
        self.processed = 0
        self.late = 0  # records older than their window's grace: not counted

    def start(self) -> None:
        self._thread = threading.Thread(target=self._supervise, name=f"job {self.name}",
                                        daemon=True)  # fmt: skip
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._app is not None:
            self._app.stop()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def problem(self) -> str | None:
        if self.running:
            return None
        return f"job {self.name} is down" + (f": {self.last_error}" if self.last_error else "")

    def status(self) -> JobStatus:
        return JobStatus(name=self.name, running=self.running, restarts=self.restarts,
                         last_error=self.last_error, processed=self.processed,
                         late=self.late)  # fmt: skip

    def _on_late(self, _value: Any, _key: Any, _at_ms: int, late_by_ms: int, *_: Any) -> bool:
        """Counted, and logged now and then (Quix would log each; a hopping window's record
        is late once for each closed window it falls in)."""
        self.late += 1
        if self.late == 1 or self.late % 1000 == 0:
            log.warning("job %s: %d records too late for their windows so far (this one by "
                        "%.0f s); grace is %d s", self.name, self.late, late_by_ms / 1000,
                        self.options.grace_s)  # fmt: skip
        return False

    def _supervise(self) -> None:
        wait = FIRST_RETRY_S
        while not self._stopping.is_set():
            started = time.monotonic()
            try:
                self._run_once()
            except Exception as exc:
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.exception("job %s failed; again in %.0f s", self.name, wait)
            finally:
                self.running = False
                self._app = None
            if self._stopping.is_set():
                return
            if time.monotonic() - started > MAX_RETRY_S * 2:
                wait = FIRST_RETRY_S  # it had run well: this is a new failure
            self.restarts += 1
            self._stopping.wait(wait)
            wait = min(wait * 2, MAX_RETRY_S)

    def _run_once(self) -> None:
        # The router creates its topics on first write; a job may start before that.
        ensure_topics(self.kafka_url, {topic: self.options.topic_partitions
                                       for topic in TOPICS[self.name]})  # fmt: skip

        def processed(*_: Any) -> None:
            self.processed += 1

        app = _Application(
            broker_address=self.kafka_url,
            consumer_group=f"reelcloud-job-{self.name}",
            auto_offset_reset="earliest",
            commit_interval=self.options.commit_interval_s,
            state_dir=self.state_dir / self.name,
            loglevel=None,  # the platform's logging
            on_message_processed=processed,
            consumer_extra_config={
                "session.timeout.ms": SESSION_TIMEOUT_MS,
                "heartbeat.interval.ms": HEARTBEAT_INTERVAL_MS,
            },
            # Tansu 0.6 loses acknowledged records with idempotent producers (see
            # platform/kafka.py): the changelogs are written without.
            producer_extra_config={"enable.idempotence": False},
        )
        BUILDERS[self.name](app, self.options, ResultSink(self.name, self._write), self._on_late)
        self._app = app
        if self._stopping.is_set():
            return
        self.running = True
        app.run()


class Jobs:
    """The jobs this process runs, and the answers from everyone's results."""

    def __init__(self, results: Results, options: JobsSettings) -> None:
        self.results = results
        self.options = options
        self.runners: list[JobRunner] = []

    def start(self, kafka_url: str, state_dir: Path, loop: asyncio.AbstractEventLoop) -> None:
        def write(found: list[Result]) -> None:  # from a job's thread, on the service's loop
            asyncio.run_coroutine_threadsafe(self.results.write(found), loop).result(
                WRITE_TIMEOUT_S
            )

        for name in self.options.jobs:
            runner = JobRunner(name, self.options, kafka_url, state_dir, write)
            runner.start()
            self.runners.append(runner)

    async def stop(self) -> None:
        await asyncio.gather(*(asyncio.to_thread(r.stop) for r in self.runners))

    def problems(self) -> str | None:
        down = [problem for runner in self.runners if (problem := runner.problem())]
        return "; ".join(down) or None

    async def prune(self, now_ms: int) -> None:
        for name in self.options.jobs:
            await self.results.prune(name, now_ms - self.options.keep_s * 1000)

    # ---- answers ---------------------------------------------------------------------------

    async def trending(self, country: str) -> Trending:
        windows = await self.results.windows("trending", key=country)
        window_ms = self.options.trending_window_s * 1000
        start = trending.current_window_start(
            [w.window_start for w in windows], window_ms, self.options.trending_hop_s * 1000
        )
        chosen = next((w for w in windows if w.window_start == start), None)
        if chosen is None:
            raise NotFoundError(f"no plays counted in {country!r} yet")
        return Trending(
            country=country, window_start=chosen.window_start, window_end=chosen.window_end,
            titles=[TrendingTitle(title_id=title, plays=plays)
                    for title, plays in trending.top(chosen.value, self.options.trending_top)],
        )  # fmt: skip

    async def countries(self) -> list[str]:
        return await self.results.keys("trending")

    async def popularity(self, days: int) -> Popularity:
        windows = await self.results.windows("popularity")
        starts = sorted({w.window_start for w in windows}, reverse=True)[:days]
        counts: dict[tuple[str, int], int] = {}
        for window in windows:
            if window.window_start in starts:
                for height, plays in window.value.items():
                    at = (window.key, int(height))
                    counts[at] = counts.get(at, 0) + plays
        return Popularity(
            days=starts,
            counts=[RenditionPlays(title_id=title, height=height, plays=plays)
                    for (title, height), plays in sorted(counts.items())],
        )  # fmt: skip

    async def sps(self, minutes: int, now_ms: int) -> Sps:
        window_ms = self.options.minute_window_s * 1000
        windows = await self.results.windows("sps", since_ms=now_ms - minutes * window_ms)
        by_minute: dict[int, dict[str, int]] = {}
        for window in windows:
            merged = by_minute.setdefault(window.window_start, {})
            for outcome, n in window.value.items():
                merged[outcome] = merged.get(outcome, 0) + n
        return Sps(minutes=[
            SpsMinute(
                minute=minute, starts=counts.get(sps.STARTED, 0),
                sps=round(counts.get(sps.STARTED, 0) / (window_ms / 1000), 3),
                failures={k.removeprefix("denied:"): v for k, v in sorted(counts.items())
                          if k != sps.STARTED},
            )
            for minute, counts in sorted(by_minute.items())
        ])  # fmt: skip

    async def qoe(self, minutes: int, now_ms: int, *, per_minute: bool = True) -> QoeReport:
        """Per OCA and minute; or, not `per_minute`, per OCA over all those minutes."""
        window_ms = self.options.minute_window_s * 1000
        windows = await self.results.windows("qoe", since_ms=now_ms - minutes * window_ms)
        by_minute: dict[int, list[dict[str, Any]]] = {}
        first = windows[0].window_start if windows else 0
        for window in windows:
            at = window.window_start if per_minute else first
            by_minute.setdefault(at, []).append(window.value)
        found = []
        for minute, values in sorted(by_minute.items()):
            for oca, totals in sorted(qoe.merged(values).items()):
                watched = totals["played_s"] + totals["rebuffer_s"]
                found.append(OcaQoe(
                    minute=minute, oca=oca, reports=totals["reports"],
                    startups=len(totals["startups_ms"]),
                    played_s=round(totals["played_s"], 3),
                    rebuffer_s=round(totals["rebuffer_s"], 3),
                    startup_p50_ms=qoe.percentile(totals["startups_ms"], 50),
                    startup_p95_ms=qoe.percentile(totals["startups_ms"], 95),
                    rebuffer_ratio=round(totals["rebuffer_s"] / watched, 5) if watched else None,
                    mean_bitrate_kbps=(round(totals["kbps_sum"] / totals["kbps_n"], 1)
                                       if totals["kbps_n"] else None),
                    errors=int(totals["errors"]),
                ))  # fmt: skip
        return QoeReport(minutes=found)
