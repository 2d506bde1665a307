"""The console: a page for people who would rather look than read, served at /console.

It is a static page whose script reads the public graph only (`POST /graphql` with the key
the person enters), so it can do nothing a partner's front end could not. The files are read
once, when the router is built, and served from memory with a strict Content-Security-Policy:
the page loads only its own script and stylesheet and talks only to this origin.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from fastapi import APIRouter, HTTPException, Request, Response

CONSOLE_DIR: Final = Path(__file__).parent / "console"
# Self only: no inline script or style, no third-party origin, no framing, no form posts.
CONTENT_SECURITY_POLICY: Final = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
_SECURITY_HEADERS: Final = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    # The key may sit in the URL's fragment: a browser never sends one, and we send no referrer.
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
}
_ASSET_TYPES: Final = {
    "console.js": "text/javascript; charset=utf-8",
    "console.css": "text/css; charset=utf-8",
}


@dataclass(frozen=True)
class _File:
    body: bytes
    media_type: str
    etag: str

    @classmethod
    def read(cls, name: str, media_type: str) -> _File:
        path = CONSOLE_DIR / name
        if not path.is_file():
            raise FileNotFoundError(f"the console's {name} is missing from {CONSOLE_DIR}")
        body = path.read_bytes()
        return cls(body, media_type, '"' + hashlib.sha256(body).hexdigest()[:32] + '"')


def _matches(if_none_match: str, etag: str) -> bool:
    tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return etag in tags or "*" in tags


def console_router() -> APIRouter:
    """The page at /console and its script and stylesheet under /console/."""
    page = _File.read("index.html", "text/html; charset=utf-8")
    assets = {name: _File.read(name, media) for name, media in _ASSET_TYPES.items()}
    router = APIRouter(tags=["console"], include_in_schema=False)

    @router.get("/console")
    @router.get("/console/")
    async def console_page() -> Response:
        # Never cached: a new release's page must name its new assets at once.
        return Response(
            page.body,
            media_type=page.media_type,
            headers={**_SECURITY_HEADERS, "Cache-Control": "no-store"},
        )

    @router.get("/console/{name}")
    async def console_asset(name: str, request: Request) -> Response:
        asset = assets.get(name)
        if asset is None:
            raise HTTPException(status_code=404, detail=f"the console has no file {name!r}")
        # Revalidated on every load (the names carry no version), answered 304 when unchanged.
        headers = {**_SECURITY_HEADERS, "Cache-Control": "no-cache", "ETag": asset.etag}
        if _matches(request.headers.get("if-none-match", ""), asset.etag):
            return Response(status_code=304, headers=headers)
        return Response(asset.body, media_type=asset.media_type, headers=headers)

    return router
