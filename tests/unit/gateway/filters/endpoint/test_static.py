"""The web UI's files: content types, index pages, caching, ETags, and never a file outside."""

import os
from pathlib import Path

import pytest
from tests.unit.gateway.filters.contexts import context, error, header

from reelcloud.gateway.context import RequestContext
from reelcloud.gateway.filters.endpoint.static import StaticEndpoint
from reelcloud.gateway.outcome import Outcome

pytestmark = pytest.mark.asyncio

FILES = {
    "index.html": b"<h1>reelcloud</h1>",
    "assets/app.js": b"console.log(1)",
    "assets/app.css": b"body{}",
    "assets/logo.svg": b"<svg/>",
    "assets/data.json": b"{}",
    "assets/blob.weird-ext": b"\x00\x01",
    "titles/index.html": b"<h1>titles</h1>",
    "empty-dir/.keep": b"",
}


@pytest.fixture
def web(tmp_path: Path) -> Path:
    root = tmp_path / "web"
    for name, content in FILES.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(content)
    (tmp_path / "secret.txt").write_bytes(b"not for the web")
    return root


async def served(
    root: Path,
    target: str,
    *,
    method: str = "GET",
    route: str = "/",
    headers: list[tuple[str, str]] | None = None,
    endpoint: StaticEndpoint | None = None,
) -> RequestContext:
    ctx = context(target, method=method, headers=headers or [])
    ctx.route = route  # routing named the static endpoint for this prefix
    await (endpoint or StaticEndpoint(root)).apply(ctx)
    assert ctx.response is not None
    return ctx


@pytest.mark.parametrize(
    ("target", "content_type"),
    [
        ("/assets/app.css", b"text/css"),
        ("/assets/logo.svg", b"image/svg+xml"),
        ("/assets/data.json", b"application/json"),
        ("/assets/blob.weird-ext", b"application/octet-stream"),  # unknown: bytes
        ("/index.html", b"text/html"),
    ],
)
async def test_serves_a_file_with_its_content_type(web, target, content_type):
    ctx = await served(web, target)
    assert ctx.response is not None
    assert ctx.response.status == 200
    assert ctx.response.body == FILES[target.lstrip("/")]
    assert header(ctx.response, b"content-type") == content_type
    assert ctx.outcome is Outcome.SUCCESS_LOCAL


async def test_javascript_is_served_as_javascript(web):
    ctx = await served(web, "/assets/app.js")
    assert header(ctx.response, b"content-type") in (b"text/javascript", b"application/javascript")


@pytest.mark.parametrize(("target", "file"), [("/", "index.html"), ("/titles", "titles/index.html"),
                                              ("/titles/", "titles/index.html")])  # fmt: skip
async def test_a_directory_is_its_index_page(web, target, file):
    ctx = await served(web, target)
    assert ctx.response is not None
    assert ctx.response.body == FILES[file]


async def test_pages_are_revalidated_and_assets_cached_for_an_hour(web):
    page = await served(web, "/")
    assert header(page.response, b"cache-control") == b"no-cache"
    asset = await served(web, "/assets/app.css")
    assert header(asset.response, b"cache-control") == b"public, max-age=3600"


async def test_the_route_prefix_is_not_part_of_the_file_path(web):
    ctx = await served(web, "/web/assets/app.css", route="/web")
    assert ctx.response is not None
    assert ctx.response.body == FILES["assets/app.css"]


async def test_a_matching_etag_is_answered_304_without_a_body(web):
    first = await served(web, "/assets/app.css")
    etag = header(first.response, b"etag")
    assert etag is not None
    assert etag.startswith(b'"')
    again = await served(web, "/assets/app.css", headers=[("If-None-Match", etag.decode())])
    assert again.response is not None
    assert again.response.status == 304
    assert again.response.body == b""
    assert header(again.response, b"etag") == etag
    stale = await served(web, "/assets/app.css", headers=[("If-None-Match", '"0-0"')])
    assert stale.response is not None
    assert stale.response.status == 200


async def test_a_changed_file_gets_a_new_etag_and_its_new_content(web):
    endpoint = StaticEndpoint(web)  # one endpoint: its cache must notice the change
    before = await served(web, "/assets/app.css", endpoint=endpoint)
    path = web / "assets/app.css"
    path.write_bytes(b"body{color:red}")
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    after = await served(web, "/assets/app.css", endpoint=endpoint)
    assert after.response is not None
    assert after.response.body == b"body{color:red}"
    assert header(after.response, b"etag") != header(before.response, b"etag")


@pytest.mark.parametrize(
    "target",
    [
        "/../secret.txt",
        "/assets/../../secret.txt",
        "/assets/./app.css",
        "/..",
        "/assets\\..\\..\\secret.txt",
        "/%2e%2e/secret.txt",  # decoded by the server before the chain sees it
    ],
)
async def test_path_traversal_is_refused(web, target):
    ctx = await served(web, target)
    assert ctx.response is not None
    assert ctx.response.status == 400
    assert ctx.outcome is Outcome.FAILURE_CLIENT_BAD_REQUEST
    assert error(ctx)["code"] == "bad_path"
    assert b"not for the web" not in ctx.response.body


async def test_a_symlink_out_of_the_root_is_refused(web):
    (web / "assets/escape.txt").symlink_to(web.parent / "secret.txt")
    ctx = await served(web, "/assets/escape.txt")
    assert ctx.response is not None
    assert ctx.response.status == 400
    assert b"not for the web" not in ctx.response.body


async def test_an_absolute_path_stays_inside_the_root(web):
    ctx = await served(web, "//" + str(web.parent / "secret.txt").lstrip("/"))
    assert ctx.response is not None
    assert ctx.response.status == 404


@pytest.mark.parametrize(
    "target",
    ["/nope.html", "/assets/nope.js", "/empty-dir", "/index.html/more"],
)
async def test_no_such_file_is_a_404(web, target):
    ctx = await served(web, target)
    assert ctx.response is not None
    assert ctx.response.status == 404
    assert ctx.outcome is Outcome.SUCCESS_NOT_FOUND
    assert error(ctx)["code"] == "not_found"


@pytest.mark.parametrize("target", ["/" + "a" * 300, "/assets/" + "b" * 256 + ".js"])
async def test_a_name_too_long_for_the_file_system_is_a_404_not_a_500(web, target):
    ctx = await served(web, target)  # stat() raises ENAMETOOLONG: no such file, not a bug
    assert ctx.response is not None
    assert ctx.response.status == 404


async def test_head_is_served_like_get(web):
    ctx = await served(web, "/assets/app.css", method="HEAD")
    assert ctx.response is not None
    assert ctx.response.status == 200  # the server leaves the body out of a HEAD answer


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE"])
async def test_static_files_are_read_only(web, method):
    ctx = await served(web, "/index.html", method=method)
    assert ctx.response is not None
    assert ctx.response.status == 405
    assert error(ctx)["code"] == "method_not_allowed"
