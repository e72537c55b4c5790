"""YouTube: the connected accounts, and publishing a finished video (a `publish` job).

Accounts are connected from a terminal (`moneyprinter youtube import` reads the original
MoneyPrinter's login files); their tokens never leave the database, where they are sealed."""

from __future__ import annotations

from typing import Annotated

import httpx
from fastapi import APIRouter, Depends
from fastapi import Path as PathParam

from app.api.deps import JobIdDep, JobsDep, SessionDep, SettingsDep
from app.api.routes import ERRORS, NOT_FOUND
from app.crypto import SecretBox, SecretKeyError
from app.db.repositories import AccountRepository, PublicationRepository
from app.domain import PUBLISH_KIND, JobStatus, PublishOptions
from app.errors import BadRequest, Conflict, JobNotFound, NotFound
from app.schemas import (
    AccountList,
    AccountRead,
    ErrorResponse,
    MessageResponse,
    PublishResponse,
)
from app.youtube import Grant, OAuthError, revoke

router = APIRouter(prefix="/api", tags=["youtube"])


async def get_accounts(session: SessionDep) -> AccountRepository:
    return AccountRepository(session)


AccountsDep = Annotated[AccountRepository, Depends(get_accounts)]
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
        box = SecretBox(settings.secret_key)
        grant = Grant(
            client_id=account.client_id,
            client_secret=box.open(account.client_secret_sealed),
            refresh_token=box.open(account.refresh_token_sealed),
            token_uri=account.token_uri,
            scopes=(),
        )
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
    session: SessionDep,
    settings: SettingsDep,
) -> PublishResponse:
    """Queues a `publish` job: its own attempts, events, retry and cancel. Publishing a video
    again to an account that already has it gives that video, without a second upload."""
    job = await jobs.get(job_id)
    if job is None:
        raise JobNotFound()
    if job.kind == PUBLISH_KIND or job.status != JobStatus.COMPLETED or job.result_path is None:
        raise Conflict(f"Job is {job.status}; only a completed video job can be published.")
    account, problem = await accounts.pick(options.account_id)
    if account is None:
        raise BadRequest(f"publish: {problem}")
    publish_id = await PublicationRepository(session).queue(
        job_id,
        options.model_dump(mode="json", by_alias=True, exclude_unset=True),
        account_id=account.id,
        max_attempts=settings.max_attempts,
    )
    return PublishResponse(job_id=publish_id)
