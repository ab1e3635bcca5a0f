"""Resilience commands with Hystrix semantics, asyncio-native.

Every call to a dependency runs as a named command in a group: a timeout, a circuit breaker
over a rolling window, a bulkhead per group, and a fallback chain; request-scoped caching and
request collapsing on top. Events, rolling counters and latency percentiles feed
`/hystrix.stream` in the Hystrix dashboard's format.

    commands = CommandRunner(ResilienceConfig())
    title = await commands.execute(
        "catalog.get_title", lambda: catalog.get_title(title_id),
        group="catalog", fallbacks=[stale_title, default_title], cache_key=title_id,
    )
"""

from reelcloud.platform.resilience.breaker import BreakerRegistry, CircuitBreaker, CircuitState
from reelcloud.platform.resilience.collapser import Collapser
from reelcloud.platform.resilience.config import BulkheadConfig, CommandConfig, ResilienceConfig
from reelcloud.platform.resilience.events import CommandEvent
from reelcloud.platform.resilience.request_context import request_scope
from reelcloud.platform.resilience.runner import CommandRunner

__all__ = [
    "BreakerRegistry",
    "BulkheadConfig",
    "CircuitBreaker",
    "CircuitState",
    "Collapser",
    "CommandConfig",
    "CommandEvent",
    "CommandRunner",
    "ResilienceConfig",
    "request_scope",
]
