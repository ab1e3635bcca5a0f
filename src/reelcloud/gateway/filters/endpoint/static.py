from __future__ import annotations

import mimetypes
from pathlib import Path

from reelcloud.gateway.context import RequestContext
from reelcloud.gateway.filters.base import EndpointFilter
from reelcloud.gateway.http.messages import Response
from reelcloud.gateway.outcome import Outcome

MAX_FILE_BYTES = 8 * 1024 * 1024


class StaticEndpoint(EndpointFilter):
    """Serves the web UI from `web/`: index.html for directories, ETags and 304s, long caching
    for assets and revalidation for pages, and never a file outside the directory."""

    name = "static"
    endpoint = "static"

    def __init__(self, root: Path) -> None:
        self._root = root.resolve()
        self._cache: dict[Path, tuple[int, int, bytes]] = {}  # path -> mtime, size, bytes

    async def apply(self, ctx: RequestContext) -> None:
        request = ctx.request
        if request.method not in ("GET", "HEAD"):
            ctx.fail(
                405,
                "method_not_allowed",
                "static files are read-only",
                Outcome.FAILURE_CLIENT_METHOD_NOT_ALLOWED,
            )
            return
        relative = (
            request.path[len(ctx.route.rstrip("/")) :].lstrip("/")
            if ctx.route != "/"
            else request.path.lstrip("/")
        )
        if "\\" in relative or any(part in ("..", ".") for part in relative.split("/")):
            ctx.fail(
                400, "bad_path", "path traversal is not allowed", Outcome.FAILURE_CLIENT_BAD_REQUEST
            )
            return
        path = (self._root / relative).resolve()
        if not path.is_relative_to(self._root):
            ctx.fail(
                400, "bad_path", "path traversal is not allowed", Outcome.FAILURE_CLIENT_BAD_REQUEST
            )
            return
        try:
            if path.is_dir():
                path = path / "index.html"
        except OSError:  # a name the file system refuses (too long): there is no such file
            loaded = None
        else:
            loaded = self._load(path)
        if loaded is None:
            ctx.fail(
                404, "not_found", f"no file at {request.path[:200]}", Outcome.SUCCESS_NOT_FOUND
            )
            return
        mtime, size, body = loaded
        etag = b'"%x-%x"' % (mtime, size)
        content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        cache = b"no-cache" if content_type == "text/html" else b"public, max-age=3600"
        headers = [
            (b"content-type", content_type.encode()),
            (b"etag", etag),
            (b"cache-control", cache),
        ]
        ctx.outcome = Outcome.SUCCESS_LOCAL
        if request.header(b"if-none-match") == etag:
            ctx.response = Response(304, headers)
        else:
            ctx.response = Response(200, headers, body)

    def _load(self, path: Path) -> tuple[int, int, bytes] | None:
        try:
            stat = path.stat()
        except OSError:
            return None
        if not path.is_file() or stat.st_size > MAX_FILE_BYTES:
            return None
        cached = self._cache.get(path)
        if cached is not None and cached[0] == stat.st_mtime_ns and cached[1] == stat.st_size:
            return cached
        loaded = (stat.st_mtime_ns, stat.st_size, path.read_bytes())
        self._cache[path] = loaded
        return loaded
