"""Every attack of the hardening probe (issue 14), repeated against the platform as `reelcloud
up` starts it: each is refused, and nothing it aimed at changed.

One platform for the module (the packaged topology with a one-title demo catalog); the tests
that change state (logout, throttling) use their own members or addresses.
"""

from __future__ import annotations

import ast
import asyncio
import base64
import hashlib
import hmac
import io
import json
import socket
import time
from pathlib import Path

import aiohttp
import asyncpg
import m3u8
import nats
import pytest
import pytest_asyncio
import yaml
from tests.support.cli import status
from tests.support.platform import Platform, shipped_platform
from tests.support.waiting import wait_for

from reelcloud.launcher.secrets import load_secrets
from reelcloud.platform import session_tokens
from reelcloud.platform.credentials import basic_authorization, service_password
from reelcloud.platform.errors import ForbiddenError
from reelcloud.platform.signed_urls import SignatureError, UrlSigner
from reelcloud.services.license.tokens import PlayGrant, PlayTokens

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(600)]

# Every secret the code shipped before the secrets file: none may open anything now.
OLD_DEV_SECRETS = [
    "reelcloud-dev-secret-change-me",
    "reelcloud-dev-url-key-change-me",
    "reelcloud-dev-report-secret-change-me",
    "reelcloud-dev-secret",
    "reelcloud",
]


@pytest.fixture(scope="module")
def platform(tmp_path_factory):
    with shipped_platform(tmp_path_factory.mktemp("attacks"), demo_titles=1, demo_seconds=4) as p:
        yield p


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def http():
    async with aiohttp.ClientSession() as session:
        yield session


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def title_id(platform, http):
    async def listed():
        async with http.get(f"{platform.gateway}/api/catalog/titles") as reply:
            return reply.status == 200 and (await reply.json())["titles"]

    titles = await wait_for(listed, what="the demo title is listed", timeout_s=240, interval_s=0.5)
    return titles[0]["id"]


def registry_url(platform: Platform) -> str:
    return status(platform.data_dir)["registry"]["peers"][0]["url"].rstrip("/")


async def sign_in(http, gateway, who):
    body = {"email": f"{who}@reelcloud.test", "password": "reelcloud"}
    async with http.post(f"{gateway}/api/accounts/login", json=body) as reply:
        assert reply.status == 200, await reply.text()
        return {"Authorization": f"Bearer {(await reply.json())['token']}"}


async def start_play(http, gateway, title_id, who, headers):
    body = {"title_id": title_id, "profile_id": f"p-{who}", "device_id": f"d-{who}-browser"}

    async def played():
        async with http.post(f"{gateway}/api/play", json=body, headers=headers) as reply:
            return reply.status == 200 and await reply.json()

    return await wait_for(played, what=f"{who} can start a play", timeout_s=120, interval_s=0.5)


async def playlist_and_key(http, gateway, played, headers):
    """The media playlist URL of the first pathway and the key URL in it."""
    master = m3u8.loads(played["hls"]["playlist"], uri=gateway + played["hls"]["url"])
    media_url = master.playlists[0].absolute_uri
    async with http.get(media_url, headers=headers) as reply:
        assert reply.status == 200
        media = m3u8.loads(await reply.text())
    return media_url, gateway + media.keys[-1].uri, media.segments[0].uri


# ---- 1. the registry -------------------------------------------------------------------------


def play_api_instances(platform):
    return [i for i in status(platform.data_dir)["instances"] if i["service"] == "play-api"]


async def test_the_registry_refuses_changes_without_the_services_credential(platform, http):
    registry = registry_url(platform)
    instance = play_api_instances(platform)[0]["id"]
    secrets = load_secrets(platform.data_dir)
    own = {"Authorization": basic_authorization("play-api", "wrong")}
    other = {
        "Authorization": basic_authorization(
            "playback", service_password(secrets.registry_secret, "playback")
        )
    }
    for headers, expected in (({}, 401), (own, 401), (other, 403)):
        async with http.put(
            f"{registry}/apps/PLAY-API/{instance}/status?value=OUT_OF_SERVICE", headers=headers
        ) as reply:
            assert reply.status == expected
        async with http.delete(f"{registry}/apps/PLAY-API/{instance}", headers=headers) as reply:
            assert reply.status == expected

    rogue = {
        "instance": {
            "instanceId": "rogue:accounts:1",
            "app": "ACCOUNTS",
            "hostName": "127.0.0.1",
            "ipAddr": "127.0.0.1",
            "status": "UP",
            "port": {"$": 1, "@enabled": "true"},
            "dataCenterInfo": {"name": "MyOwn"},
        }
    }
    for headers, expected in (({}, 401), (other, 403)):
        async with http.post(f"{registry}/apps/ACCOUNTS", json=rogue, headers=headers) as reply:
            assert reply.status == expected

    async with http.get(
        f"{registry}/apps", headers={**other, "Accept": "application/json"}
    ) as reply:
        assert reply.status == 200
        apps = (await reply.json())["applications"]["application"]
    by_name = {app["name"]: app["instance"] for app in apps}
    assert all(i["instanceId"] != "rogue:accounts:1" for i in by_name["ACCOUNTS"])
    assert {i["instanceId"]: i["status"] for i in by_name["PLAY-API"]}[instance] == "UP"
    async with http.get(f"{registry}/apps") as reply:
        assert reply.status == 401


# ---- 2. shipped secrets and sessions ---------------------------------------------------------


async def test_tokens_signed_with_any_old_dev_secret_or_without_a_session_are_refused(
    platform, http, title_id
):
    body = {"title_id": title_id, "profile_id": "p-chen", "device_id": "d-chen"}
    real = load_secrets(platform.data_dir).session_secret
    forged = [forge(secret, {"sub": "m-chen", "sid": "s-guess"}) for secret in OLD_DEV_SECRETS]
    # The real secret without `sid`: a token no logout could revoke is no entry.
    forged.append(forge(real, {"sub": "m-chen"}))
    for token in forged:
        headers = {"Authorization": f"Bearer {token}"}
        async with http.post(f"{platform.gateway}/api/play", json=body, headers=headers) as reply:
            assert reply.status == 401, token
            assert (await reply.json())["error"]["code"]


def forge(secret: str, claims: dict) -> str:
    """A session token made offline, as an attacker holding `secret` would."""
    payload = session_tokens._b64(json.dumps({**claims, "exp": int(time.time()) + 600}).encode())
    mac = hmac.new(secret.encode(), payload.encode(), hashlib.sha256).digest()
    return f"{payload}.{session_tokens._b64(mac)}"


async def test_licence_tokens_signed_with_an_old_dev_secret_get_no_key(platform, http, title_id):
    alice = await sign_in(http, platform.gateway, "alice")
    played = await start_play(http, platform.gateway, title_id, "alice", alice)
    try:
        _, key_url, _ = await playlist_and_key(http, platform.gateway, played, alice)
        genuine = claims_of(key_url.split("t=", 1)[1])
        for secret in OLD_DEV_SECRETS:
            token = PlayTokens(secret).issue(genuine)
            async with http.get(key_url.split("t=", 1)[0] + f"t={token}") as reply:
                assert reply.status == 403, secret
                assert (await reply.json())["error"]["code"] == "invalid_play_token"
        async with http.get(key_url) as reply:
            assert reply.status == 200  # the genuine token still opens it
    finally:
        async with http.post(platform.gateway + played["stop_url"], headers=alice):
            pass


def claims_of(play_token: str) -> PlayGrant:
    """What a genuine play token says, read without its key (an attacker can read it too)."""
    payload = play_token.split(".")[0]
    c = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return PlayGrant(c["m"], c["t"], c["d"], c["p"], c["k"], c["exp"], c["s"])


async def test_oca_urls_signed_with_an_old_dev_key_are_refused(platform, http, title_id):
    alice = await sign_in(http, platform.gateway, "alice")
    played = await start_play(http, platform.gateway, title_id, "alice", alice)
    try:
        _, _, segment_url = await playlist_and_key(http, platform.gateway, played, alice)
        async with http.get(segment_url) as reply:
            assert reply.status == 200  # the genuine URL is served
        oca, _, rest = segment_url.partition("/v/")
        _, _, path = rest.partition("/")  # <title>/<file>
        for secret in OLD_DEV_SECRETS:
            token = UrlSigner({"k1": secret}).sign(title_id, "0.0.0.0/0", int(time.time()) + 600)
            async with http.get(f"{oca}/v/{token}/{path}") as reply:
                assert reply.status == 403, secret
    finally:
        async with http.post(platform.gateway + played["stop_url"], headers=alice):
            pass


# ---- 3. bounded events -----------------------------------------------------------------------


async def test_an_oversized_heartbeat_is_refused_and_the_events_after_it_flow(
    platform, http, title_id
):
    alice = await sign_in(http, platform.gateway, "alice")
    played = await start_play(http, platform.gateway, title_id, "alice", alice)
    url = platform.gateway + played["heartbeat_url"]
    bus = await nats.connect(platform.env()["REELCLOUD_NATS_URL"])
    seen: list[dict] = []

    async def on_event(message):
        event = json.loads(message.data)
        if event["payload"].get("play_id") == played["play_id"]:
            seen.append(event)

    try:
        await bus.subscribe("events.play.heartbeat", cb=on_event)
        huge = json.dumps({"position_s": 1.0, "qoe": {"note": "x" * (1024 * 1024)}}).encode()
        sent = {**alice, "Content-Type": "application/json"}
        async with http.post(url, data=io.BytesIO(huge), headers=sent) as reply:
            assert reply.status in (400, 413)
            assert (await reply.json())["error"]["code"]
        async with http.post(url, json={"position_s": 2.0, "qoe": {}}, headers=alice) as reply:
            assert reply.status == 200
        await wait_for(lambda: seen, what="the next heartbeat reaches the stream", timeout_s=2)
        assert [e["payload"]["position_s"] for e in seen] == [2.0]
    finally:
        await bus.close()
        async with http.post(platform.gateway + played["stop_url"], headers=alice):
            pass


# ---- 4. sessions, throttling, input ----------------------------------------------------------


async def test_after_logout_the_sessions_plays_playlists_heartbeats_and_keys_fail(
    platform, http, title_id
):
    leaving = await sign_in(http, platform.gateway, "alice")
    staying = await sign_in(http, platform.gateway, "alice")  # another session of the member
    played = await start_play(http, platform.gateway, title_id, "alice", leaving)
    media_url, key_url, _ = await playlist_and_key(http, platform.gateway, played, leaving)
    async with http.post(f"{platform.gateway}/api/accounts/logout", headers=leaving) as reply:
        assert reply.status in (200, 204)
    body = {"title_id": title_id, "profile_id": "p-alice", "device_id": "d-alice-browser"}

    async def answers():
        found = {}
        async with http.post(f"{platform.gateway}/api/play", json=body, headers=leaving) as r:
            found["play"] = r.status
        async with http.get(media_url, headers=leaving) as r:
            found["playlist"] = r.status
        async with http.post(
            platform.gateway + played["heartbeat_url"], json={"position_s": 1}, headers=leaving
        ) as r:
            found["heartbeat"] = r.status
        async with http.get(key_url) as r:
            found["key"] = r.status
        return found

    last = {}

    async def all_refused():
        last.update(await answers())
        return all(status in (401, 403, 410) for status in last.values())

    await wait_for(all_refused, what=lambda: f"every request of the revoked session fails: {last}")
    async with http.get(f"{platform.gateway}/api/accounts/me", headers=staying) as reply:
        assert reply.status == 200  # the member's other session is untouched


async def test_a_stopped_plays_key_and_playlists_stop_answering(platform, http, title_id):
    alice = await sign_in(http, platform.gateway, "alice")
    played = await start_play(http, platform.gateway, title_id, "alice", alice)
    media_url, key_url, _ = await playlist_and_key(http, platform.gateway, played, alice)
    async with http.post(platform.gateway + played["stop_url"], headers=alice) as reply:
        assert reply.status == 200
    async with http.get(media_url, headers=alice) as reply:
        assert reply.status in (403, 410)
    async with http.get(key_url) as reply:
        assert reply.status in (403, 410)


async def test_a_password_guesser_is_throttled_and_the_member_still_gets_in(platform):
    gateway = platform.gateway
    guesser = aiohttp.TCPConnector(local_addr=("127.0.0.77", 0))
    statuses = []
    async with aiohttp.ClientSession(connector=guesser) as http:
        for n in range(200):
            body = {"email": "chen@reelcloud.test", "password": f"guess-{n}"}
            async with http.post(f"{gateway}/api/accounts/login", json=body) as reply:
                statuses.append(reply.status)
                if reply.status == 429:
                    assert int(reply.headers["Retry-After"]) >= 1
    assert set(statuses) <= {401, 429}
    assert statuses.count(429) >= 150
    member = aiohttp.TCPConnector(local_addr=("127.0.0.78", 0))
    async with aiohttp.ClientSession(connector=member) as http:
        last = {}

        async def signed_in():
            body = {"email": "chen@reelcloud.test", "password": "reelcloud"}
            async with http.post(f"{gateway}/api/accounts/login", json=body) as reply:
                last["answer"] = (reply.status, reply.headers.get("Retry-After"))
                return reply.status == 200

        await wait_for(
            signed_in, what=lambda: f"chen signs in from home: {last}", timeout_s=90, interval_s=1
        )


# A sign-up form that would be accepted, for the cases that spoil one field of it.
JOINING = {
    "email": "n@x.test", "password": "long-enough-1", "name": "N", "country": "US",
    "plan": "basic", "card": {"number": "4242424242424242", "exp_month": 12, "exp_year": 2099,
                              "cvc": "123"},
}  # fmt: skip


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/api/accounts/login", {"email": "a\u0000@reelcloud.test", "password": "x"}),
        ("POST", "/api/accounts/login", {"email": "alice@reelcloud.test", "password": "a\u0000"}),
        ("POST", "/api/signup", {**JOINING, "email": "n\u0000@x.test"}),
        ("POST", "/api/signup", {**JOINING, "name": "N\u0000"}),
        ("GET", "/api/catalog/titles?genre=a%00b", None),
        ("GET", "/api/catalog/titles?q=%00", None),
    ],
)
async def test_nul_characters_are_refused_as_bad_requests(platform, http, method, path, body):
    async with http.request(method, platform.gateway + path, json=body) as reply:
        assert reply.status == 400, await reply.text()
        assert (await reply.json())["error"]["code"]


async def test_a_sign_up_from_a_country_that_is_not_one_is_refused(platform, http):
    body = {**JOINING, "email": "zz@reelcloud.test", "country": "ZZ"}
    async with http.post(f"{platform.gateway}/api/signup", json=body) as reply:
        assert reply.status == 400
        assert (await reply.json())["error"]["code"] == "country_not_sold"
    async with http.post(
        f"{platform.gateway}/api/accounts/login",
        json={"email": body["email"], "password": body["password"]},
    ) as reply:
        assert reply.status == 401  # nothing was created


# ---- 5. the edge -----------------------------------------------------------------------------


async def test_a_pathway_that_is_not_a_plain_number_is_refused(platform, http, title_id):
    alice = await sign_in(http, platform.gateway, "alice")
    played = await start_play(http, platform.gateway, title_id, "alice", alice)
    media_url, _, _ = await playlist_and_key(http, platform.gateway, played, alice)
    prefix, _, rest = media_url.partition("/media/")
    _, _, file = rest.partition("/")
    try:
        for odd in ("-1", "+0", "0_0", "%200", "99999999999999999999"):
            async with http.get(f"{prefix}/media/{odd}/{file}", headers=alice) as reply:
                assert reply.status in (400, 404), odd
                assert (await reply.json())["error"]["code"]
    finally:
        async with http.post(platform.gateway + played["stop_url"], headers=alice):
            pass


async def test_an_odd_range_header_is_not_read_leniently(platform, http, title_id):
    alice = await sign_in(http, platform.gateway, "alice")
    played = await start_play(http, platform.gateway, title_id, "alice", alice)
    try:
        _, _, segment_url = await playlist_and_key(http, platform.gateway, played, alice)
        async with http.get(segment_url, headers={"Range": "bytes=10-20"}) as reply:
            assert reply.status == 206  # a plain range is served
            assert len(await reply.read()) == 11
        for odd in ("bytes=1_0-2_0", "bytes=+1-2", "bytes=0x1-2", "bytes=1-2-3"):
            async with http.get(segment_url, headers={"Range": odd}) as reply:
                assert reply.status in (200, 416), odd  # ignored (RFC 9110) or refused
                if reply.status == 200:
                    assert "Content-Range" not in reply.headers
    finally:
        async with http.post(platform.gateway + played["stop_url"], headers=alice):
            pass


def trickle(port: int, count: int, source: str) -> list[socket.socket]:
    sockets = []
    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", port), source_address=(source, 0))
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")  # never the blank line
        sockets.append(sock)
    return sockets


def closed_by_server(sock: socket.socket) -> bool:
    """Whether the server has answered (a 408, say) or closed: either ends the trickle."""
    sock.setblocking(False)
    try:
        sock.recv(65536)  # b"" at end of stream, or the server's answer
    except BlockingIOError:
        return False  # still open, nothing said
    except OSError:
        pass  # reset
    return True


async def test_trickling_headers_are_cut_off_and_one_address_cannot_hold_every_connection(
    platform, http
):
    port = int(platform.gateway.rsplit(":", 1)[1])
    sockets = await asyncio.to_thread(trickle, port, 1000, "127.0.0.90")
    try:
        async with http.get(f"{platform.gateway}/healthcheck") as reply:
            assert reply.status == 200  # another client is served meanwhile
        await wait_for(
            lambda: all(closed_by_server(s) for s in sockets),
            what="the gateway closes every connection that never finished its headers",
            timeout_s=60,
            interval_s=0.5,
        )
    finally:
        for sock in sockets:
            sock.close()


async def test_admin_routes_need_the_admin_credential(platform, http):
    instance = play_api_instances(platform)[0]
    url = f"http://{instance['address']}/resilience/commands/playback"
    change = {"timeout_ms": 1}
    async with http.put(url, json=change) as reply:
        assert reply.status == 401
    wrong = {"Authorization": basic_authorization("admin", "reelcloud")}
    async with http.put(url, json=change, headers=wrong) as reply:
        assert reply.status == 401
    async with http.get(f"http://{instance['address']}/resilience/commands") as reply:
        assert reply.status == 200  # reads stay open
        assert str((await reply.json()).get("playback", {}).get("timeout_ms")) != "1"


# ---- 6. data at rest -------------------------------------------------------------------------


def repository_strings() -> set[str]:
    """Every string literal of the code and every scalar of the packaged YAML: whatever a
    reader of the repository could try as a key."""
    root = Path(__file__).resolve().parents[2]
    found: set[str] = set()
    for path in (root / "src").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                found.add(node.value)
    for path in (root / "src").rglob("*.yaml"):
        stack = [yaml.safe_load(path.read_text())]
        while stack:
            item = stack.pop()
            if isinstance(item, dict):
                stack.extend([*item.keys(), *item.values()])
            elif isinstance(item, list):
                stack.extend(item)
            elif isinstance(item, str):
                found.add(item)
    return {s for s in found if s.strip() and s.isprintable() and _encodable(s)}


def _encodable(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:  # a lone surrogate (the fuzz tests' examples): no key is one
        return False
    return True


async def test_no_string_in_the_repository_signs_anything_the_platform_accepts(platform, title_id):
    secrets = load_secrets(platform.data_dir)
    candidates = repository_strings()
    assert len(candidates) > 1000  # the scan found the code
    assert (
        not {secrets.session_secret, secrets.registry_secret, secrets.admin_password} & candidates
    )
    grant = PlayGrant(
        "m-chen", title_id, "d-chen-browser", "pl-1", "k", int(time.time()) + 600, "s"
    )
    real_tokens = PlayTokens(secrets.session_secret)
    real_urls = UrlSigner(secrets.url_signing_keys)
    for candidate in candidates:
        with pytest.raises(session_tokens.InvalidTokenError):
            session_tokens.verify(
                secrets.session_secret, forge(candidate, {"sub": "m-chen", "sid": "s-1"})
            )
        with pytest.raises(ForbiddenError):
            real_tokens.verify(PlayTokens(candidate).issue(grant))
        forged_url = UrlSigner({"k1": candidate}).sign(title_id, "0.0.0.0/0", grant.expires_at)
        with pytest.raises(SignatureError):
            real_urls.verify(forged_url, title_id)


async def test_every_file_of_the_data_directory_is_its_owners_only(platform, title_id):
    """`find <data dir> -perm /077 -type f` finds nothing (SeaweedFS makes a new volume's info
    file readable whatever the umask: the launcher takes that back within seconds)."""
    found: list[str] = []

    def none_readable():
        found[:] = [
            f"{path} {oct(path.lstat().st_mode & 0o777)}"
            for path in platform.data_dir.rglob("*")
            if path.is_file() and not path.is_symlink() and path.lstat().st_mode & 0o077
        ]
        return not found

    await wait_for(
        none_readable,
        what=lambda: f"no file readable by others: {found}",
        ignoring=(FileNotFoundError,),
    )
    assert oct(platform.data_dir.joinpath("secrets.json").stat().st_mode & 0o777) == "0o600"


async def test_a_services_database_role_reaches_its_own_database_only(platform):
    secrets = load_secrets(platform.data_dir)
    postgres = next(e for e in status(platform.data_dir)["engines"] if e["name"] == "postgres")
    port = postgres["url"].rsplit(":", 1)[1].split("/")[0]

    def url(role, database, password=None):
        password = password or secrets.database_password(role)
        return f"postgresql://{role}:{password}@127.0.0.1:{port}/{database}"

    conn = await asyncpg.connect(url("reelcloud_accounts", "reelcloud_accounts"))
    try:
        assert await conn.fetchval("SELECT count(*) FROM members") >= 1
    finally:
        await conn.close()
    for database in ("reelcloud_playback", "reelcloud_catalog", "postgres"):
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await asyncpg.connect(url("reelcloud_accounts", database))
    with pytest.raises(asyncpg.InvalidPasswordError):  # the superuser over TCP
        await asyncpg.connect(f"postgresql://postgres@127.0.0.1:{port}/postgres")
    with pytest.raises(asyncpg.InvalidPasswordError):
        await asyncpg.connect(url("reelcloud_accounts", "reelcloud_accounts", "guess"))
