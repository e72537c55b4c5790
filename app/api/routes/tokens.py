"""URL tokens: a browser loads API files by address while the API key stays in a header."""

from __future__ import annotations

from fastapi import APIRouter, Request

from app.api.auth import UrlTokens, check_scope
from app.api.routes import ERRORS
from app.errors import BadRequest
from app.schemas import TokenRequest, TokenResponse

router = APIRouter(prefix="/api", tags=["tokens"])


@router.post("/tokens", response_model=TokenResponse, responses={**ERRORS}, summary="A URL token")
async def issue_token(body: TokenRequest, request: Request) -> TokenResponse:
    """A token that lets GET and HEAD requests under `scope` through without the key, as
    `?token=`, for `expiresInSeconds`: for `<video src>`, `<img>`, download links and
    EventSource, which cannot send headers. Asking needs the key itself; a token cannot ask."""
    try:
        scope = check_scope(body.scope)
    except ValueError as exc:
        raise BadRequest(str(exc)) from None
    tokens: UrlTokens | None = request.app.state.url_tokens  # None: the server has no key
    if tokens is None:
        return TokenResponse(token=None, scope=scope, expires_in_seconds=None)
    return TokenResponse(token=tokens.issue(scope), scope=scope, expires_in_seconds=tokens.ttl_s)
