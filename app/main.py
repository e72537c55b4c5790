"""create_app(): the FastAPI application: lifespan (engine), routers, error handlers, web page."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.api.auth import ApiKeyGuard, UrlTokens
from app.api.edge import (
    CrossSiteWrites,
    HostPolicy,
    OriginPolicy,
    TrustedHosts,
    cors_origins,
)
from app.api.followers import Followers
from app.api.limits import BodySizeLimit
from app.api.queue_cap import QueueCap
from app.api.routes import (
    artifacts,
    batches,
    events,
    health,
    jobs,
    metrics,
    models,
    songs,
    storyboard,
    tokens,
    voices,
    webhooks,
    youtube,
)
from app.api.validation import describe_validation_error
from app.db.dialect import Dialect
from app.db.enqueuer import Enqueuer
from app.db.notify import JobNotifier
from app.db.repositories.accounts import check_secret_key
from app.db.session import create_sessionmaker, settings_engine
from app.errors import AppError
from app.settings import Settings
from app.version import app_version

logger = logging.getLogger(__name__)

WEB_DIST = Path(__file__).resolve().parents[1] / "web" / "dist"


def create_app(
    settings: Settings | None = None,
    *,
    on_job_queued: Callable[[], None] | None = None,
    web_dist: Path = WEB_DIST,
) -> FastAPI:
    """Build the application. `on_job_queued` is called after each enqueue commits (the
    in-process wake-up when a worker shares this process); on Postgres a NOTIFY follows too.
    `web_dist`: the built web app (`npm run build` in web/, which the setup step runs)."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = settings_engine(settings)
        app.state.engine = engine
        app.state.sessionmaker = create_sessionmaker(
            engine, webhook_endpoints=settings.webhook_urls
        )
        await check_secret_key(app.state.sessionmaker, settings.secret_key)
        app.state.enqueuer = enqueuer = Enqueuer(app.state.sessionmaker)
        app.state.queue_cap = QueueCap(app.state.sessionmaker, limit=settings.max_queued_jobs)
        app.state.followers = followers = Followers(
            app.state.sessionmaker,
            poll_s=settings.stream_poll_interval_s,
            max_streams=settings.max_event_streams,
        )
        notifier = JobNotifier(engine) if Dialect.of(engine).notifies else None
        app.state.wake_workers = _job_queued_hook(on_job_queued, notifier)
        if settings.object_store is None:
            settings.songs_dir.mkdir(parents=True, exist_ok=True)
        try:
            yield
        finally:
            await followers.aclose()
            await enqueuer.aclose()
            if notifier is not None:
                await notifier.aclose()
            await engine.dispose()

    app = FastAPI(
        title="MoneyPrinter",
        version=app_version(),
        description="Turns a topic into a finished, narrated, subtitled vertical video.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    _guard_requests(app, settings)
    _declare_api_key(app)
    # Added after the guards, so they wrap them: a 401 or 413 carries CORS headers, and the Host
    # check runs first of all.
    _add_cors(app, settings)
    _add_host_check(app, settings)
    _add_error_handlers(app)
    for module in (
        jobs,
        storyboard,
        batches,
        events,
        artifacts,
        youtube,
        webhooks,
        songs,
        models,
        voices,
        health,
        metrics,
        tokens,
    ):
        app.include_router(module.router)
    _mount_web(app, web_dist)
    return app


def _add_cors(app: FastAPI, settings: Settings) -> None:
    """CORS for pages served elsewhere (the original MoneyPrinter's page on :3000, a dev server):
    the configured origins, else the loopback ones when the server listens on loopback."""
    origins, pattern = cors_origins(settings)
    if not origins and pattern is None:
        return
    app.add_middleware(
        CORSMiddleware,
        allow_origins=origins,
        allow_origin_regex=pattern,
        allow_methods=["GET", "POST", "DELETE"],
        allow_headers=[
            "Authorization",
            "X-API-Key",
            "Content-Type",
            "Idempotency-Key",
            "Last-Event-ID",
        ],
    )


def _add_host_check(app: FastAPI, settings: Settings) -> None:
    """Only the Host names the server answers to (against DNS rebinding), then only writes from
    the pages that may send them (against cross-site requests). Added last, so they run first: a
    refused request reaches nothing else."""
    app.add_middleware(CrossSiteWrites, policy=OriginPolicy.from_settings(settings))
    app.add_middleware(TrustedHosts, policy=HostPolicy.from_settings(settings))


def _guard_requests(app: FastAPI, settings: Settings) -> None:
    """The API key, then the body's size, both before the app reads a byte of the body. Added
    first, so that middleware added later (CORS) wraps them and answers preflights itself."""
    app.add_middleware(
        BodySizeLimit,
        max_bytes=settings.max_json_bytes,
        max_bytes_by_path={"/api/upload-songs": settings.max_upload_bytes},
        max_bytes_by_ending={"/storyboard/clips": settings.max_upload_bytes},
    )
    # The guard checks the URL tokens POST /api/tokens issues with the same instance.
    app.state.url_tokens = None
    if not settings.api_key:
        return
    app.state.url_tokens = tokens = UrlTokens(settings.api_key, ttl_s=settings.url_token_ttl_s)
    # Open without the key: the health check (load balancers, Docker), the page and its files,
    # which hold no data, and the API's description.
    # The OAuth callback: Google's redirect carries no key; its sealed `state` is the check.
    public_paths = {"/", "/api/health", "/api/accounts/oauth/callback"}
    public_paths |= {url for url in (app.docs_url, app.openapi_url, app.redoc_url) if url}
    if app.docs_url and app.swagger_ui_oauth2_redirect_url:
        public_paths.add(app.swagger_ui_oauth2_redirect_url)
    app.add_middleware(
        ApiKeyGuard,
        api_key=settings.api_key,
        tokens=tokens,
        public_paths=public_paths,
        public_prefixes=["/assets/"],
        public_reads=settings.public_reads,
    )


def _declare_api_key(app: FastAPI) -> None:
    """Name the key and the URL token in the OpenAPI document, optional as they are on a server
    without a key, so that the docs page's Authorize button sends the key with "Try it out"."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = build()  # cached by FastAPI as app.openapi_schema: completed in place
        schema.setdefault("components", {})["securitySchemes"] = {
            "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
            "bearer": {"type": "http", "scheme": "bearer"},
            "urlToken": {
                "type": "apiKey",
                "in": "query",
                "name": "token",
                "description": "from POST /api/tokens; GET and HEAD under its scope only",
            },
        }
        schema["security"] = [{"apiKey": []}, {"bearer": []}, {"urlToken": []}, {}]
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _job_queued_hook(
    in_process: Callable[[], None] | None, notifier: JobNotifier | None
) -> Callable[[], Awaitable[None]]:
    """What the routes run after a job was queued (and committed): wake the workers. A
    coroutine, so that it runs in the event loop (a plain function would run in a thread)."""

    async def wake() -> None:
        if in_process is not None:
            in_process()
        if notifier is not None:
            notifier.job_queued()

    return wake


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(AppError)
    async def _app_error(_request: Request, exc: AppError) -> JSONResponse:
        return _error(exc.status_code, exc.message, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return _error(400, describe_validation_error(exc.errors(), path=request.url.path))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = exc.detail if isinstance(exc.detail, str) else "Request failed."
        if exc.status_code == 404 and message == "Not Found":
            message = "Not found."
        return _error(exc.status_code, message, headers=exc.headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        logger.exception("unhandled error on %s %s", request.method, request.url.path)
        return _error(500, "Internal server error.")


def _error(
    status_code: int, message: str, *, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        {"status": "error", "message": message}, status_code=status_code, headers=headers
    )


def _mount_web(app: FastAPI, web_dist: Path) -> None:
    """Serve the built web app: its page at `/` and Vite's hashed files under `/assets` (it routes
    with `#/…`, so no other path needs a fallback). Nothing is mounted at `/` itself, so a wrong
    API path or method still gets the API's own 404 or 405. Without a build, `/` leads to the API
    docs."""
    index = web_dist / "index.html"
    if not index.is_file():

        @app.get("/", include_in_schema=False)
        async def _docs() -> RedirectResponse:
            return RedirectResponse("/docs")

        return

    @app.get("/", include_in_schema=False)
    async def _page() -> FileResponse:
        # Always revalidated: a new build names new asset files, which only a fresh page loads.
        return FileResponse(index, headers={"Cache-Control": "no-cache"})

    if (web_dist / "assets").is_dir():
        app.mount("/assets", StaticFiles(directory=web_dist / "assets"), name="web-assets")
