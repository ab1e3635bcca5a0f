"""`/hystrix.stream` and the run-time command settings on a real service process."""

import orjson
import pytest
import pytest_asyncio
from tests.support.cli import ECHO_SERVICE
from tests.support.factories import free_port, registry_credential, topology_dict
from tests.support.servers import RunningService, registry_peers

from reelcloud.platform.credentials import basic_authorization
from reelcloud.platform.settings import Settings
from reelcloud.platform.topology import Topology

pytestmark = pytest.mark.asyncio

# The HystrixCommand fields the dashboard reads (shared/reference/netflix-oss.md §3).
COMMAND_FIELDS = """name group currentTime isCircuitBreakerOpen errorPercentage errorCount requestCount
rollingCountBadRequests rollingCountCollapsedRequests rollingCountEmit rollingCountExceptionsThrown
rollingCountFailure rollingCountFallbackEmit rollingCountFallbackFailure rollingCountFallbackMissing
rollingCountFallbackRejection rollingCountFallbackSuccess rollingCountResponsesFromCache
rollingCountSemaphoreRejected rollingCountShortCircuited rollingCountSuccess
rollingCountThreadPoolRejected rollingCountTimeout currentConcurrentExecutionCount
rollingMaxConcurrentExecutionCount latencyExecute_mean latencyExecute latencyTotal_mean latencyTotal
propertyValue_circuitBreakerRequestVolumeThreshold propertyValue_circuitBreakerSleepWindowInMilliseconds
propertyValue_circuitBreakerErrorThresholdPercentage propertyValue_circuitBreakerForceOpen
propertyValue_circuitBreakerForceClosed propertyValue_circuitBreakerEnabled
propertyValue_executionIsolationStrategy propertyValue_executionIsolationThreadTimeoutInMilliseconds
propertyValue_executionTimeoutInMilliseconds propertyValue_executionIsolationThreadInterruptOnTimeout
propertyValue_executionIsolationThreadPoolKeyOverride
propertyValue_executionIsolationSemaphoreMaxConcurrentRequests
propertyValue_fallbackIsolationSemaphoreMaxConcurrentRequests
propertyValue_metricsRollingStatisticalWindowInMilliseconds propertyValue_requestCacheEnabled
propertyValue_requestLogEnabled reportingHosts threadPool""".split()
POOL_FIELDS = """name currentTime currentActiveCount currentCompletedTaskCount currentCorePoolSize
currentLargestPoolSize currentMaximumPoolSize currentPoolSize currentQueueSize currentTaskCount
rollingCountThreadsExecuted rollingMaxActiveThreads rollingCountCommandRejections
propertyValue_queueSizeRejectionThreshold
propertyValue_metricsRollingStatisticalWindowInMilliseconds reportingHosts""".split()
PERCENTILE_KEYS = {"0", "25", "50", "75", "90", "95", "99", "99.5", "100"}
ADMIN_PASSWORD = "test-admin-password"
ADMIN = {"Authorization": basic_authorization("admin", ADMIN_PASSWORD)}


@pytest_asyncio.fixture
async def echo(tmp_path):
    doc = topology_dict([free_port()], services=[ECHO_SERVICE])
    topology = Topology.model_validate(doc)
    async with registry_peers(topology, tmp_path):
        service = RunningService(
            Settings(
                service="echo",
                topology=topology,
                data_dir=tmp_path,
                log_format="text",
                admin_password=ADMIN_PASSWORD,
                **registry_credential("echo"),
            )
        )
        await service.start()
        yield service
        await service.stop()


async def read_events(http, url, count):
    events = []
    async with http.get(url + "/hystrix.stream") as response:
        assert response.headers["Content-Type"] == "text/event-stream;charset=UTF-8"
        assert "no-cache" in response.headers["Cache-Control"]
        async for line in response.content:
            if line.startswith(b"data: "):
                events.append(orjson.loads(line[6:]))
            if len(events) >= count:
                return events
    return events


async def test_stream_speaks_the_hystrix_dashboard_format(echo, http):
    for query in ("", "?fail=1", "?fail=1", ""):
        async with http.get(echo.url + "/call" + query) as response:
            assert response.status == 200
    events = await read_events(http, echo.url, 2)
    command = next(e for e in events if e["type"] == "HystrixCommand")
    pool = next(e for e in events if e["type"] == "HystrixThreadPool")
    assert set(COMMAND_FIELDS) <= set(command)
    assert set(POOL_FIELDS) <= set(pool)
    assert set(command["latencyExecute"]) == PERCENTILE_KEYS
    assert set(command["latencyTotal"]) == PERCENTILE_KEYS
    assert command["name"] == "echo.dependency"
    assert command["group"] == "dependency"
    assert command["rollingCountSuccess"] == 2
    assert command["rollingCountFailure"] == 2
    assert command["rollingCountFallbackSuccess"] == 2
    assert command["errorPercentage"] == 50
    assert command["requestCount"] == 4
    assert isinstance(command["isCircuitBreakerOpen"], bool)
    assert pool["name"] == "dependency"


async def test_stream_pings_when_there_are_no_commands_and_caps_listeners(echo, http):
    async with http.get(echo.url + "/hystrix.stream") as response:
        assert await response.content.readline() == b"ping: \n"
    listeners = [await http.get(echo.url + "/hystrix.stream") for _ in range(5)]
    try:
        async with http.get(echo.url + "/hystrix.stream") as extra:
            assert extra.status == 503
    finally:
        for listener in listeners:
            listener.close()


async def test_command_settings_change_at_run_time(echo, http):
    url = echo.url + "/resilience/commands/echo.dependency"
    async with http.put(url, json={"timeout_ms": 50}, headers=ADMIN) as response:
        assert response.status == 200
        assert (await response.json())["timeout_ms"] == 50
    async with http.get(echo.url + "/call?ms=500") as response:
        assert (await response.json())["result"] == "fallback"  # timed out at 50 ms
    async with http.put(url, json={"force_open": True}, headers=ADMIN) as response:
        assert response.status == 200
    async with http.get(echo.url + "/call") as response:
        assert (await response.json())["result"] == "fallback"  # short-circuited
    async with http.get(echo.url + "/resilience/commands") as response:
        status = (await response.json())["echo.dependency"]
    assert status["events"]["TIMEOUT"] == 1
    assert status["events"]["SHORT_CIRCUITED"] == 1
    for body, message in (
        ({"timeout_ms": "soon"}, "must be int"),
        ({"nonsense": 1}, "unknown"),
        ({}, "non-empty"),
        ([1, 2], "JSON object"),
    ):
        async with http.put(url, json=body, headers=ADMIN) as response:
            assert response.status == 400
            assert message in (await response.json())["error"]["message"]
    async with http.put(url, data=b"{not json", headers=ADMIN) as response:
        assert response.status == 400


async def test_settings_change_only_with_the_admin_credential(echo, http):
    async with http.get(echo.url + "/call") as response:
        assert response.status == 200
    refusals = [
        ({}, 401),
        ({"Authorization": basic_authorization("admin", "reelcloud")}, 401),
        ({"Authorization": "Bearer " + ADMIN_PASSWORD}, 401),
        ({"Authorization": basic_authorization("echo", ADMIN_PASSWORD)}, 403),
    ]
    for path in ("/resilience/commands/echo.dependency", "/resilience/groups/dependency"):
        for headers, status in refusals:
            async with http.put(
                echo.url + path, json={"force_open": True, "max_concurrent": 0}, headers=headers
            ) as response:
                assert response.status == status, (path, headers)
                assert (await response.json())["error"]["code"]
                if status == 401:
                    assert response.headers["WWW-Authenticate"] == 'Basic realm="reelcloud"'
    # Nothing changed: reads stay open and show the defaults; calls still go through.
    async with http.get(echo.url + "/resilience/commands") as response:
        assert response.status == 200
        assert (await response.json())["echo.dependency"]["config"]["force_open"] is False
    async with http.get(echo.url + "/call") as response:
        assert (await response.json())["result"] != "fallback"
    for path in ("/metrics", "/healthz", "/hystrix"):
        async with http.get(echo.url + path) as response:
            assert response.status == 200, path


async def test_dashboard_page_is_served(echo, http):
    async with http.get(echo.url + "/hystrix") as response:
        assert response.status == 200
        page = await response.text()
    assert "EventSource" in page
    assert "hystrix.stream" in page
