"""Webhook deliveries: each message's delivery to each endpoint, and sending a failed one again.

The endpoints themselves are settings (MONEYPRINTER_WEBHOOK_URLS), never part of a request."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi import Path as PathParam

from app.api.deps import JobIdDep, JobsDep, WebhooksDep
from app.api.routes import ERRORS, NOT_FOUND
from app.errors import Conflict, JobNotFound, NotFound
from app.schemas import (
    ErrorResponse,
    WebhookDeliveryList,
    WebhookDeliveryPage,
    WebhookDeliveryRead,
    WebhookDeliveryResponse,
)

router = APIRouter(prefix="/api", tags=["webhooks"])


@router.get(
    "/jobs/{job_id}/webhooks",
    response_model=WebhookDeliveryList,
    responses={**ERRORS, **NOT_FOUND},
    summary="A job's webhook deliveries",
)
async def job_deliveries(
    job_id: JobIdDep, jobs: JobsDep, webhooks: WebhooksDep
) -> WebhookDeliveryList:
    if await jobs.get(job_id) is None:
        raise JobNotFound()
    rows = await webhooks.for_job(job_id)
    return WebhookDeliveryList(deliveries=[WebhookDeliveryRead.model_validate(r) for r in rows])


@router.get(
    "/webhooks/deliveries",
    response_model=WebhookDeliveryPage,
    responses={**ERRORS},
    summary="Webhook deliveries",
)
async def list_deliveries(
    webhooks: WebhooksDep,
    status: Annotated[
        Literal["pending", "delivered", "failed"] | None,
        Query(description="only deliveries in this state"),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> WebhookDeliveryPage:
    """Deliveries, newest first."""
    rows, total = await webhooks.page(status=status, limit=limit, offset=offset)
    return WebhookDeliveryPage(
        deliveries=[WebhookDeliveryRead.model_validate(row) for row in rows],
        total=total,
        limit=limit,
        offset=offset,
    )


@router.post(
    "/webhooks/deliveries/{delivery_id}/redeliver",
    response_model=WebhookDeliveryResponse,
    responses={
        **ERRORS,
        **NOT_FOUND,
        409: {"model": ErrorResponse, "description": "The delivery has not failed"},
    },
    summary="Send a failed delivery again",
)
async def redeliver(
    webhooks: WebhooksDep, delivery_id: Annotated[int, PathParam(ge=1, le=2**31 - 1)]
) -> WebhookDeliveryResponse:
    """A failed delivery goes back to pending, with a fresh retry schedule; the same message
    (its `webhook-id` included) is sent again by the next worker round, signed anew."""
    delivery = await webhooks.redeliver(delivery_id)
    if delivery is None:
        existing = await webhooks.get(delivery_id)
        if existing is None:
            raise NotFound("Webhook delivery not found.")
        raise Conflict(f"The delivery is {existing.status}; only a failed delivery is sent again.")
    return WebhookDeliveryResponse(
        message="Delivery queued again.", delivery=WebhookDeliveryRead.model_validate(delivery)
    )
