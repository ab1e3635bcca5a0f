"""Command and bulkhead settings: Hystrix's defaults in one place, units in the names,
changeable at run time (chaos experiments and tuning change them on a live process)."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

from reelcloud.platform.errors import BadRequestError


@dataclass(frozen=True, slots=True)
class CommandConfig:
    timeout_ms: int = 1000
    timeout_enabled: bool = True
    circuit_breaker_enabled: bool = True
    request_volume_threshold: int = 20
    error_threshold_percent: int = 50
    sleep_window_ms: int = 5000
    force_open: bool = False
    force_closed: bool = False
    rolling_window_ms: int = 10_000
    rolling_buckets: int = 10
    percentile_window_ms: int = 60_000
    percentile_buckets: int = 6
    percentile_bucket_size: int = 100
    fallback_enabled: bool = True
    request_cache_enabled: bool = True

    def __post_init__(self) -> None:
        if self.timeout_ms <= 0 or self.sleep_window_ms < 0:
            raise BadRequestError("timeout_ms must be > 0 and sleep_window_ms >= 0")
        if not 0 <= self.error_threshold_percent <= 100:
            raise BadRequestError("error_threshold_percent must be between 0 and 100")
        if self.rolling_buckets <= 0 or self.rolling_window_ms % self.rolling_buckets:
            raise BadRequestError("rolling_window_ms must divide into rolling_buckets")


@dataclass(frozen=True, slots=True)
class BulkheadConfig:
    max_concurrent: int = 10  # async calls in flight per group (Hystrix semaphore default)
    thread_pool_size: int = 10  # workers for blocking calls (Hystrix coreSize)
    queue_size: int = 0  # blocking calls waiting for a worker (Hystrix: a SynchronousQueue)

    def __post_init__(self) -> None:
        if self.max_concurrent <= 0 or self.thread_pool_size <= 0 or self.queue_size < 0:
            raise BadRequestError("bulkhead sizes must be positive")


def _apply(base: Any, changes: dict[str, Any]) -> Any:
    known = {f.name: f.type for f in fields(base)}
    unknown = set(changes) - set(known)
    if unknown:
        raise BadRequestError(f"unknown settings: {sorted(unknown)}")
    for key, value in changes.items():
        expected = type(getattr(base, key))
        if type(value) is not expected:
            raise BadRequestError(f"{key} must be {expected.__name__}, got {value!r}")
    return replace(base, **changes)


class ResilienceConfig:
    """Defaults plus per-command and per-group overrides; reads always see the latest."""

    def __init__(
        self,
        command_defaults: CommandConfig | None = None,
        bulkhead_defaults: BulkheadConfig | None = None,
    ) -> None:
        self._command_defaults = command_defaults or CommandConfig()
        self._bulkhead_defaults = bulkhead_defaults or BulkheadConfig()
        self._commands: dict[str, CommandConfig] = {}
        self._groups: dict[str, BulkheadConfig] = {}
        self.version = 0  # bumped on every change, so holders can notice

    def command(self, name: str) -> CommandConfig:
        return self._commands.get(name, self._command_defaults)

    def group(self, name: str) -> BulkheadConfig:
        return self._groups.get(name, self._bulkhead_defaults)

    def set_command(self, name: str, **changes: Any) -> CommandConfig:
        config: CommandConfig = _apply(self.command(name), changes)
        self._commands[name] = config
        self.version += 1
        return config

    def set_group(self, name: str, **changes: Any) -> BulkheadConfig:
        config: BulkheadConfig = _apply(self.group(name), changes)
        self._groups[name] = config
        self.version += 1
        return config
