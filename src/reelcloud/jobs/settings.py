"""The jobs' options (the topology's `options:` for `jobs`)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

JobName = Literal["trending", "popularity", "sps", "qoe"]
ALL_JOBS: list[JobName] = ["trending", "popularity", "sps", "qoe"]


class JobsSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    # Which jobs this process runs (each its own consumer group): a bigger deployment runs
    # one job per service instance.
    jobs: list[JobName] = Field(default_factory=lambda: list(ALL_JOBS), min_length=1)
    # Window state (RocksDB, backed by changelog topics); relative paths under the data dir.
    state_dir: str = "jobs/state"
    trending_window_s: int = Field(default=3600, ge=60)
    trending_hop_s: int = Field(default=300, ge=1)
    trending_top: int = Field(default=20, ge=1, le=1000)
    popularity_window_s: int = Field(default=86_400, ge=60)
    minute_window_s: int = Field(default=60, ge=1)  # sps and qoe
    # Events later than this (by event time) than the newest seen no longer count.
    grace_s: int = Field(default=300, ge=0)
    # A checkpoint commits offsets and state, and writes the changed windows out.
    commit_interval_s: float = Field(default=2.0, gt=0)
    # Results older than this are deleted.
    keep_s: int = Field(default=3 * 86_400, ge=3600)
    # A topic a job finds missing is created with these (the router's `topic_partitions`).
    topic_partitions: int = Field(default=4, ge=1, le=256)
