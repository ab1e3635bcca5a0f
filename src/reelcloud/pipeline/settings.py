"""The router's options (the topology's `options:` for `pipeline`)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class PipelineSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    # The routes; relative paths are under the data directory. Seeded from the packaged
    # default on first start, then the operator's to edit (reloaded on change).
    routes_file: str = "pipeline/routes.yaml"
    reload_interval_s: float = Field(default=1.0, gt=0)
    # A lake commit writes manifests and a snapshot: fewer, larger batches make fewer, larger
    # files. A batch is written when it holds `batch_max` events or is `flush_interval_s` old.
    batch_max: int = Field(default=20_000, ge=1, le=200_000)
    flush_interval_s: float = Field(default=2.0, gt=0)
    # The lake: an Iceberg warehouse on the S3 origin, its catalog in the router's database.
    lake_bucket: str = "lake"
    lake_namespace: str = "reelcloud"
    # How many (table, event type, hour) partitions keep their event ids in memory for
    # dedup; an event for a partition evicted since is checked against the lake itself.
    dedup_partitions: int = Field(default=96, ge=1)
    # Small files: every `compact_interval_s`, each lake partition of an hour gone by (one hour
    # of grace for late events) that is spread over `compact_min_files` files or more is
    # rewritten as one.
    compact_interval_s: float = Field(default=600.0, gt=0)
    compact_min_files: int = Field(default=8, ge=2)
    # A route's consumer Kafka topic, created on first write (more partitions: more job
    # instances can share its consumer group).
    topic_partitions: int = Field(default=4, ge=1, le=256)
