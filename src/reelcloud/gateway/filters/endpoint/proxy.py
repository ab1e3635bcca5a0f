from __future__ import annotations

import time

from reelcloud.gateway.context import Attempt, RequestContext
from reelcloud.gateway.filters.base import EndpointFilter
from reelcloud.gateway.http.messages import HOP_BY_HOP, Headers, Response
from reelcloud.gateway.http.origin import (
    OriginConnectError,
    OriginPool,
    OriginReadTimeout,
    OriginResetError,
)
from reelcloud.gateway.outcome import Outcome, outcome_of_origin_status
from reelcloud.platform.discovery import DiscoveryClient, ZoneAwareRoundRobin

IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS"})
# Response headers not passed on: hop-by-hop ones, and the request id the gateway sets itself.
_NOT_COPIED = HOP_BY_HOP | {b"x-request-id"}
# Headers a client may not set: the gateway is the only one that speaks them to origins.
INTERNAL = frozenset(
    {b"x-reelcloud-member", b"x-reelcloud-session", b"x-request-id", b"x-forwarded-for", b"host"}
)


class ProxyEndpoint(EndpointFilter):
    """Sends the request to an instance of the routed origin service.

    Zuul's rules: a per-origin concurrency cap (503, FAILURE_LOCAL_THROTTLED_ORIGIN_CONCURRENCY);
    connect and read timeouts; retry on another instance after a connect error for any method,
    after a read timeout, reset or 503 only for idempotent methods; nothing has been sent to the
    client before the origin's whole answer is in, so a retry is never visible to it.
    """

    name = "proxy"
    endpoint = "proxy"

    def __init__(
        self,
        discovery: DiscoveryClient,
        pool: OriginPool,
        *,
        zone: str,
        max_concurrency: int,
        read_timeout_s: float,
        max_retries: int,
        forward_faults: bool,
    ) -> None:
        self._discovery = discovery
        self._pool = pool
        self._balancer = ZoneAwareRoundRobin(zone)
        self._max_concurrency = max_concurrency
        self._read_timeout_s = read_timeout_s
        self._max_retries = max_retries
        self._forward_faults = forward_faults
        self.in_flight: dict[str, int] = {}

    async def apply(self, ctx: RequestContext) -> None:
        origin = ctx.origin
        if self.in_flight.get(origin, 0) >= self._max_concurrency:
            ctx.fail(
                503,
                "origin_concurrency",
                f"too many requests in flight to {origin}",
                Outcome.FAILURE_LOCAL_THROTTLED_ORIGIN_CONCURRENCY,
            )
            return
        self.in_flight[origin] = self.in_flight.get(origin, 0) + 1
        try:  # one coroutine for the whole exchange, the pool's aside: they cost per request
            request = ctx.request
            headers = self._origin_headers(ctx)
            idempotent = request.method in IDEMPOTENT
            tried: set[str] = set()
            failure: tuple[int, str, str, Outcome] | None = None
            for attempt in range(1 + self._max_retries):
                candidates = self._discovery.instances(origin)
                if tried:
                    candidates = [i for i in candidates if i.instance_id not in tried]
                instance = self._balancer.choose(origin, candidates)
                if instance is None:
                    if not tried:
                        failure = (
                            502,
                            "no_servers",
                            f"no instance of {origin} is available",
                            Outcome.FAILURE_ORIGIN_NO_SERVERS,
                        )
                    break
                tried.add(instance.instance_id)
                started = time.perf_counter()
                ctx.passport.mark("ORIGIN_REQUEST_START")
                try:
                    response = await self._pool.request(
                        instance.ip_addr,
                        instance.port,
                        request.method,
                        ctx.origin_path,
                        headers,
                        request.body,
                        read_timeout_s=self._read_timeout_s,
                    )
                except OriginConnectError as exc:
                    self._discovery.mark_unreachable(instance)
                    ctx.attempts.append(
                        Attempt(instance.instance_id, None, "connect", _ms(started))
                    )
                    failure = (
                        502,
                        "origin_unreachable",
                        f"cannot connect to {origin}",
                        Outcome.FAILURE_ORIGIN_CONNECTIVITY,
                    )
                    ctx.error = str(exc)
                    continue  # nothing was sent: safe to retry any method
                except OriginReadTimeout:
                    ctx.attempts.append(
                        Attempt(instance.instance_id, None, "read_timeout", _ms(started))
                    )
                    failure = (
                        504,
                        "origin_timeout",
                        f"{origin} did not answer in time",
                        Outcome.FAILURE_ORIGIN_READ_TIMEOUT,
                    )
                    if idempotent:
                        continue
                    break
                except OriginResetError:
                    ctx.attempts.append(Attempt(instance.instance_id, None, "reset", _ms(started)))
                    failure = (
                        504,
                        "origin_reset",
                        f"{origin} closed the connection",
                        Outcome.FAILURE_ORIGIN_RESET_CONNECTION,
                    )
                    if idempotent:
                        continue
                    break
                ctx.passport.mark("ORIGIN_RESPONSE_END")
                ctx.attempts.append(
                    Attempt(instance.instance_id, response.status, "", _ms(started))
                )
                failure = None
                retry_503 = response.status == 503 and idempotent and attempt < self._max_retries
                ctx.outcome = outcome_of_origin_status(response.status)
                ctx.response = Response(
                    response.status,
                    [(k, v) for k, v in response.headers if k not in _NOT_COPIED],
                    response.body,
                )
                ctx.response.headers.append(
                    (b"x-reelcloud-instance", instance.instance_id.encode())
                )
                if not retry_503:
                    return
                # else: keep this 503 as the answer unless another instance does better
            if failure is not None and ctx.response is None:  # an origin's own 503 beats our guess
                ctx.fail(*failure)
        finally:
            self.in_flight[origin] -= 1

    def close(self) -> None:
        self._pool.close()

    def _origin_headers(self, ctx: RequestContext) -> Headers:
        headers = [
            (k, v)
            for k, v in ctx.request.headers
            if k not in HOP_BY_HOP
            and k not in INTERNAL
            and (self._forward_faults or k != b"x-reelcloud-fault")
        ]
        headers.append((b"x-request-id", ctx.request_id.encode()))
        headers.append((b"x-forwarded-for", ctx.client_address.encode()))
        if ctx.claims.get("sub"):
            headers.append((b"x-reelcloud-member", str(ctx.claims["sub"]).encode()))
        if ctx.claims.get("sid"):
            headers.append((b"x-reelcloud-session", str(ctx.claims["sid"]).encode()))
        return headers


def _ms(started: float) -> float:
    # Hundredths of a millisecond; int() rather than round(x, 2), which formats a string.
    return int((time.perf_counter() - started) * 100_000 + 0.5) / 100
