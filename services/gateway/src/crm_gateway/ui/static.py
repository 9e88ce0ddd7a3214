"""The pages' own CSS and JavaScript, and the vendored libraries, with cache-busting URLs.

``static("app.css")`` gives ``/ui/static/app.css?v=<hash of the file>``: a browser keeps
a file for a year and asks again only when its content (so its URL) changes.
"""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path

from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

STATIC_DIR = Path(__file__).parent / "static"
PREFIX = "/ui/static"


@cache
def static(name: str) -> str:
    digest = hashlib.sha256((STATIC_DIR / name).read_bytes()).hexdigest()[:12]
    return f"{PREFIX}/{name}?v={digest}"


class VersionedStatic(StaticFiles):
    """Static files; those asked for by their versioned URL are cached for good."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        if response.status_code == 200 and b"v=" in scope.get("query_string", b""):
            response.headers["cache-control"] = "public, max-age=31536000, immutable"
        return response


def static_files() -> VersionedStatic:
    return VersionedStatic(directory=STATIC_DIR)
