"""py-eureka-client (a real Eureka client from PyPI) pointed at our registry.

In the test's process: `use_format(fmt, registry_base)` installs an HTTP client through the
client's own hook (`http_client.set_http_client`) that records what every registry read got
back, so a test can call the client's read functions (`eureka_basic.get_applications`, ...) and
check both the objects they build and the replies on the wire.

py-eureka-client 0.13 sends its reads with no Accept header and parses them as XML; that hook is
its only way to speak JSON. In JSON mode the hook asks for `application/json` and hands the
client's parser the JSON in Jackson's XML mapping (`@name` an attribute, `$` the text, a list
repeated elements), which is generic, not our codec: a wrong root, field name or shape in our
JSON becomes a wrong or missing value in what the client returns.

In a process of its own (`EurekaClient` keeps threads and an event loop of its own):
  python -m tests.support.py_eureka_peer peer EUREKA_URL PORT WANTED_APP
    registers as PY-APP, prints one JSON line once it sees WANTED_APP, stops (and cancels) on a
    line from stdin;
  python -m tests.support.py_eureka_peer call EUREKA_URL xml|json APP PATH
    `eureka_client.init` + `eureka_client.do_service(APP, PATH)`: prints one JSON line with the
    service's answer and the registry reads it took.
  python -m tests.support.py_eureka_peer calls EUREKA_URL
    registers PY-APP, renews, reads and cancels through the client's own calls with the URL as
    given: prints one JSON line with the HTTP status each got (or 0 if it went through).

The registry wants a credential: give it in the URL (http://py-app:PASSWORD@host:port/eureka/),
as py-eureka-client supports; it sends it as basic auth on every call.
"""

from __future__ import annotations

import asyncio
import json
import sys
import xml.etree.ElementTree as ET
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.error import HTTPError
from urllib.parse import urlsplit, urlunsplit

from py_eureka_client import eureka_basic, eureka_client, http_client
from py_eureka_client.eureka_client import EurekaClient


@dataclass
class Fetch:
    """One registry read as the client received it."""

    url: str
    status: int
    content_type: str = ""
    content_encoding: str = ""
    root: str = ""  # the XML root element, or the JSON document's only key
    document: Any = field(default=None, repr=False)  # the JSON document (JSON mode)


class RecordingHttpClient(http_client.HttpClient):
    """The client's own HTTP, unchanged, with every reply from the registry recorded."""

    def __init__(self, registry_base: str) -> None:
        self.registry_base = registry_base
        self.fetches: list[Fetch] = []

    async def urlopen(
        self,
        request: str | http_client.HttpRequest | None = None,
        data: bytes | None = None,
        timeout: float | None = None,
    ) -> http_client.HttpResponse:
        req = http_client.HttpRequest(request) if isinstance(request, str) else request
        assert req is not None
        reading = req.method == "GET" and req.url.startswith(self.registry_base)
        if reading:
            self.prepare(req)
        try:
            res = await super().urlopen(req, data, timeout)
        except HTTPError as exc:
            if reading:
                self.fetches.append(Fetch(req.url, exc.code))
            raise
        if reading:
            raw = res.raw_response
            fetch = Fetch(
                req.url,
                raw.status_code,
                raw.headers.get("content-type", ""),
                raw.headers.get("content-encoding", ""),
            )
            self.fetches.append(fetch)
            res.body_text = self.translate(fetch, res.body_text)
        return res

    def prepare(self, request: http_client.HttpRequest) -> None:
        """Nothing: the client's reads go out as it sends them."""

    def translate(self, fetch: Fetch, body: str) -> str:
        fetch.root = ET.fromstring(body).tag
        return body


class JsonHttpClient(RecordingHttpClient):
    """Registry reads in JSON, fed to the client's parser in Jackson's XML mapping."""

    def prepare(self, request: http_client.HttpRequest) -> None:
        request.add_header("Accept", "application/json")

    def translate(self, fetch: Fetch, body: str) -> str:
        doc = json.loads(body)
        if not isinstance(doc, dict) or len(doc) != 1:
            raise ValueError(f"a JSON object with one root key expected: {body[:200]}")
        ((fetch.root, value),) = doc.items()
        fetch.document = doc
        return ET.tostring(jackson_element(fetch.root, value), encoding="unicode")


def jackson_element(tag: str, value: Any) -> ET.Element:
    element = ET.Element(tag)
    if isinstance(value, dict):
        for key, item in value.items():
            if key.startswith("@"):
                element.set(key[1:], _text(item))
            elif key == "$":
                element.text = _text(item)
            else:
                for each in item if isinstance(item, list) else [item]:
                    element.append(jackson_element(key, each))
    elif value is not None:
        element.text = _text(value)
    return element


def _text(value: Any) -> str:
    return json.dumps(value) if isinstance(value, bool) else str(value)


def with_credentials(url: str, user: str, password: str) -> str:
    """The registry URL with a credential in it, the way py-eureka-client takes one."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=f"{user}:{password}@{parts.netloc}"))


def without_credentials(url: str) -> str:
    """The URL as the client's requests name it: it moves `user:password@` to a header."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def use_format(fmt: str, registry_base: str) -> RecordingHttpClient:
    """Install the recording client for `fmt` ("xml" or "json"); `restore()` undoes it."""
    base = without_credentials(registry_base)
    client = JsonHttpClient(base) if fmt == "json" else RecordingHttpClient(base)
    http_client.set_http_client(client)
    return client


def restore() -> None:
    http_client.set_http_client(http_client.HttpClient())


async def peer(base: str, port: int, wanted: str) -> None:
    client = EurekaClient(
        eureka_server=base,
        app_name="py-app",
        instance_ip="127.0.0.1",
        instance_host="127.0.0.1",
        instance_port=port,
        renewal_interval_in_secs=1,
        duration_in_secs=3,
        metadata={"zone": "z1"},
    )
    await client.start()
    for _ in range(100):
        app = client.applications.get_application(wanted)
        if app.up_instances:
            break
        await asyncio.sleep(0.1)
    apps = await eureka_basic.get_applications(base)  # XML, no Accept header
    delta = await eureka_basic.get_delta(base)
    seen = apps.get_application(wanted)
    print(
        json.dumps(
            {
                "ids": [i.instanceId for i in seen.instances],
                "ports": [i.port.port for i in seen.instances],
                "hashcode": apps.apps__hashcode,
                "delta_hashcode": delta.apps__hashcode,
                "via_client_cache": bool(client.applications.get_application(wanted).up_instances),
            }
        ),
        flush=True,
    )
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    await client.stop()


def call(base: str, fmt: str, app: str, path: str) -> None:
    recorder = use_format(fmt, base.rstrip("/"))
    # The module-level API a service would use: one cached client, discovery only.
    eureka_client.init(eureka_server=base, should_register=False)
    try:
        answer = eureka_client.do_service(app, path, return_type="json")
    finally:
        eureka_client.stop()
    fetches = [{k: v for k, v in asdict(f).items() if k != "document"} for f in recorder.fetches]
    print(json.dumps({"answer": answer, "fetches": fetches}), flush=True)


async def calls(base: str) -> None:
    instance = eureka_basic.Instance(
        instanceId="127.0.0.1:py-app:9557",
        app="PY-APP",
        ipAddr="127.0.0.1",
        hostName="127.0.0.1",
        port=eureka_basic.PortWrapper(port=9557, enabled=True),
        vipAddress="py-app",
        secureVipAddress="py-app",
        status="UP",
        dataCenterInfo=eureka_basic.DataCenterInfo(name="MyOwn"),
        lastDirtyTimestamp=1000,
    )
    attempts = {
        "register": eureka_basic.register(base, instance),
        "renew": eureka_basic.send_heartbeat(base, "PY-APP", instance.instanceId, 1000),
        "status": eureka_basic.status_update(base, "PY-APP", instance.instanceId, 1000, "DOWN"),
        "read": eureka_basic.get_applications(base),
        "cancel": eureka_basic.cancel(base, "PY-APP", instance.instanceId),
    }
    statuses = {}
    for name, attempt in attempts.items():
        try:
            await attempt
            statuses[name] = 0
        except HTTPError as exc:
            statuses[name] = exc.code
    print(json.dumps(statuses), flush=True)


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    if command == "peer":
        asyncio.run(peer(args[0], int(args[1]), args[2]))
    elif command == "call":
        call(*args)
    elif command == "calls":
        asyncio.run(calls(args[0]))
    else:
        sys.exit(f"unknown command {command!r}: peer, call or calls")
