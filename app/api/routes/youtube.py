"""YouTube: the connected accounts, connecting one from the browser, and publishing a finished
video (a `publish` job). Account tokens never leave the database, where they are sealed."""

from __future__ import annotations

import json
from typing import Annotated
from urllib.parse import urlencode

import httpx
from fastapi import APIRouter, Request
from fastapi import Path as PathParam
from fastapi.responses import RedirectResponse

from app.api.deps import AccountsDep, JobIdDep, JobsDep, PublicationsDep, SettingsDep
from app.api.routes import ERRORS, NOT_FOUND
from app.crypto import SecretBox, SecretKeyError
from app.domain import PUBLISH_KIND, JobStatus, PublishOptions
from app.errors import BadRequest, Conflict, JobNotFound, NotFound
from app.schemas import (
    AccountList,
    AccountRead,
    ConnectResponse,
    ErrorResponse,
    MessageResponse,
    PublishResponse,
)
from app.settings import Settings
from app.youtube import (
    AccountError,
    OAuthError,
    authorization_url,
    exchange_code,
    new_verifier,
    revoke,
)
from app.youtube_accounts import client_secrets, grant_of, save_login

router = APIRouter(prefix="/api", tags=["youtube"])

CONNECT_TTL_S = 600


AccountId = Annotated[int, PathParam(ge=1, le=2**31 - 1)]


@router.get(
    "/accounts", response_model=AccountList, responses={**ERRORS}, summary="YouTube accounts"
)
async def list_accounts(accounts: AccountsDep) -> AccountList:
    return AccountList(
        accounts=[AccountRead.model_validate(account) for account in await accounts.list()]
    )


@router.delete(
    "/accounts/{account_id}",
    response_model=MessageResponse,
    responses={**ERRORS, **NOT_FOUND},
    summary="Disconnect a YouTube account",
)
async def disconnect_account(
    account_id: AccountId, accounts: AccountsDep, settings: SettingsDep
) -> MessageResponse:
    """Revokes its token at Google (which ends the app's access to the channel) and forgets it.
    When Google cannot be reached, it is forgotten all the same, and the answer says so."""
    account = await accounts.get(account_id)
    if account is None:
        raise NotFound("YouTube account not found.")
    message = "Account disconnected; its token is revoked."
    try:
        grant = grant_of(account, SecretBox(settings.secret_key))
        async with httpx.AsyncClient(trust_env=False) as client:
            await revoke(client, grant)
    except (OAuthError, SecretKeyError) as exc:
        message = (
            f"Account disconnected, but its token could not be revoked ({exc}): remove the "
            "app's access at https://myaccount.google.com/permissions."
        )
    await accounts.delete(account_id)
    return MessageResponse(message=message)


@router.post(
    "/accounts/connect",
    response_model=ConnectResponse,
    responses={**ERRORS},
    summary="Start connecting a YouTube account",
)
async def start_connect(request: Request, settings: SettingsDep) -> ConnectResponse:
    """The address of Google's consent page for the OAuth client of
    MONEYPRINTER_YOUTUBE_CLIENT_SECRETS (authorization code flow with PKCE). Open it in the
    browser: Google sends the browser back to `/api/accounts/oauth/callback`, which stores the
    account and goes on to the web page's Accounts page. That address (as this request reached
    the server) must be among the client's authorised redirect URIs."""
    box = _secret_box(settings)
    try:
        client = client_secrets(settings, None)
    except AccountError as exc:
        raise BadRequest(f"Cannot connect accounts: {exc}.") from None
    redirect_uri = str(request.url_for("finish_connect"))
    verifier = new_verifier()
    # The verifier and the redirect travel sealed in `state`: nothing to keep between the two
    # requests, nothing another site can forge, and it expires.
    state = box.seal(json.dumps({"verifier": verifier, "redirectUri": redirect_uri}))
    url = authorization_url(client, redirect_uri=redirect_uri, state=state, verifier=verifier)
    return ConnectResponse(authorization_url=url, expires_in_seconds=CONNECT_TTL_S)


@router.get("/accounts/oauth/callback", include_in_schema=False, name="finish_connect")
async def finish_connect(
    settings: SettingsDep,
    accounts: AccountsDep,
    code: str = "",
    state: str = "",
    error: str = "",
) -> RedirectResponse:
    """Where Google's consent page sends the browser back. Open without the API key (a redirect
    carries none): the sealed `state` is what proves the sign-in was started here, recently."""
    box = _secret_box(settings)
    opened = box.open_recent(state, max_age_s=CONNECT_TTL_S) if state else None
    if error:
        return _back_to_page(error=f"Google did not connect the account ({error}).")
    if opened is None or not code:
        return _back_to_page(
            error="This sign-in was not started here, or took longer than 10 minutes: "
            "connect again."
        )
    started = json.loads(opened)
    try:
        client = client_secrets(settings, None)
        async with httpx.AsyncClient(trust_env=False) as http:
            grant, access = await exchange_code(
                http,
                client,
                code=code,
                verifier=started["verifier"],
                redirect_uri=started["redirectUri"],
            )
            account = await save_login(accounts, box, http, settings.youtube_api_url, grant, access)
    except AccountError as exc:
        return _back_to_page(error=f"{exc}.")
    return _back_to_page(connected=account.id)


def _secret_box(settings: Settings) -> SecretBox:
    try:
        return SecretBox(settings.secret_key)
    except SecretKeyError as exc:
        raise BadRequest(f"Cannot connect accounts: {exc}.") from None


def _back_to_page(**outcome: str | int) -> RedirectResponse:
    return RedirectResponse(f"/#/accounts?{urlencode(outcome)}", status_code=303)


@router.post(
    "/jobs/{job_id}/publish",
    response_model=PublishResponse,
    responses={
        **ERRORS,
        **NOT_FOUND,
        409: {"model": ErrorResponse, "description": "The job has no finished video"},
    },
    summary="Publish a finished video to YouTube",
)
async def publish(
    job_id: JobIdDep,
    options: PublishOptions,
    jobs: JobsDep,
    accounts: AccountsDep,
    publications: PublicationsDep,
    settings: SettingsDep,
) -> PublishResponse:
    """Queues a `publish` job: its own attempts, events, retry and cancel. Publishing a video
    again to an account that already has it gives that video, without a second upload."""
    if problem := options.schedule_problem():
        raise BadRequest(problem)
    job = await jobs.get(job_id)
    if job is None:
        raise JobNotFound()
    if job.kind == PUBLISH_KIND or job.status != JobStatus.COMPLETED or job.result_path is None:
        raise Conflict(f"Job is {job.status}; only a completed video job can be published.")
    account, problem = await accounts.pick(options.account_id)
    if account is None:
        raise BadRequest(f"publish: {problem}")
    publish_id = await publications.queue(
        job_id,
        options.model_dump(mode="json", by_alias=True, exclude_unset=True),
        subject=(job.payload or {}).get("videoSubject"),
        account_id=account.id,
        max_attempts=settings.max_attempts,
    )
    return PublishResponse(job_id=publish_id)
