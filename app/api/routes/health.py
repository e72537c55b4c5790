"""Liveness and database reachability."""

from __future__ import annotations

from fastapi import APIRouter, Request
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from app.api.deps import SessionDep
from app.api.routes import PUBLIC_ERRORS
from app.errors import ServiceUnavailable
from app.schemas import ErrorResponse, HealthResponse

router = APIRouter(prefix="/api", tags=["health"])


@router.get(
    "/health",
    response_model=HealthResponse,
    responses={
        **PUBLIC_ERRORS,
        503: {"model": ErrorResponse, "description": "Database unreachable"},
    },
    summary="Health",
)
async def health(request: Request, session: SessionDep) -> HealthResponse:
    try:
        await session.execute(text("SELECT 1"))
    except (SQLAlchemyError, OSError) as exc:
        raise ServiceUnavailable("Database unreachable.") from exc
    return HealthResponse(dialect=session.get_bind().dialect.name, version=request.app.version)
