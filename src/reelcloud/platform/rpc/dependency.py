"""A service an application API calls, as a resilience command with its own timeout, breaker
and bulkhead. A call that fails for any reason of availability (timed out, short-circuited,
rejected, no instance, the call raised) is one `UnavailableError` named for the service
(`catalog_unavailable`, ...), which fallbacks catch and the edge renders as 503. Request
errors (not found, unauthenticated, a clear refusal) pass through as they are, and do not
count against the breaker."""

from __future__ import annotations

from typing import Any

from reelcloud.platform.app import ServiceState
from reelcloud.platform.errors import CommandError, UnavailableError
from reelcloud.platform.rpc import RpcClient

# Hystrix's default of 10 concurrent calls is for one thread pool; a play fans out to five.
MAX_CONCURRENT = 500


class Dependency:
    """One downstream service: its RPC client, its command name and timeout."""

    def __init__(
        self,
        state: ServiceState,
        service: str,
        stub: Any,
        timeout_ms: int,
        *,
        max_concurrent: int = MAX_CONCURRENT,
    ) -> None:
        self.client = RpcClient(state.discovery, service, stub)
        self.service = service
        self.timeout_s = timeout_ms / 1000
        self._runner = state.commands
        state.commands.config.set_command(service, timeout_ms=timeout_ms)
        state.commands.config.set_group(service, max_concurrent=max_concurrent)

    async def call(self, method: str, request: Any) -> Any:
        async def run() -> Any:
            return await self.client.call(method, request, timeout_s=self.timeout_s)

        try:
            return await self._runner.execute(self.service, run)
        except (CommandError, UnavailableError) as exc:
            raise UnavailableError(
                f"{self.service} is unavailable ({exc.message}); try again shortly",
                code=f"{self.service}_unavailable",
            ) from exc

    async def aclose(self) -> None:
        await self.client.aclose()
