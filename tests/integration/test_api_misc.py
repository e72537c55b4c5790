"""Models (against a loopback Ollama), health, the web page at `/`, and CORS."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from app.main import create_app
from app.settings import Settings
from tests.fakes import ollama
from tests.fakes.server import serving


async def client_for(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with serve(create_app(settings)) as client:
        yield client


@asynccontextmanager
async def serve(application: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client


async def test_models_lists_what_ollama_has(settings: Settings) -> None:
    with serving(ollama.handler(models=["llama3.1:8b", "qwen2.5:7b"])) as url:
        async for client in client_for(settings.model_copy(update={"ollama_base_url": url})):
            response = await client.get("/api/models")

    assert response.status_code == 200
    assert response.json() == {
        "status": "success",
        "message": None,
        "models": ["llama3.1:8b", "qwen2.5:7b"],
        "default": "llama3.1:8b",
    }


@pytest.mark.parametrize("ollama_status", [None, 500])
async def test_models_without_ollama_answers_error_and_default(
    settings: Settings, ollama_status: int | None
) -> None:
    if ollama_status is None:  # nothing listens at the configured URL
        async for client in client_for(settings):
            response = await client.get("/api/models")
    else:
        with serving(ollama.handler(fail_with_status=ollama_status)) as url:
            async for client in client_for(settings.model_copy(update={"ollama_base_url": url})):
                response = await client.get("/api/models")

    body = response.json()
    assert response.status_code == 200
    assert body["status"] == "error"
    assert "Could not reach Ollama" in body["message"]
    assert body["default"] == settings.ollama_model


async def test_health_reports_the_database(client: httpx.AsyncClient, settings: Settings) -> None:
    response = await client.get("/api/health")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "success" and body["database"] == "ok"
    assert body["dialect"] == (
        "sqlite" if "sqlite" in settings.resolved_database_url else "postgresql"
    )


async def test_root_serves_the_web_app(settings: Settings, tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    (dist / "assets").mkdir(parents=True)
    (dist / "index.html").write_text("<!doctype html><div id=app></div>")
    (dist / "assets" / "app.js").write_text("console.log('hi')")

    async with serve(create_app(settings, web_dist=dist)) as client:
        page = await client.get("/")
        script = await client.get("/assets/app.js")
        api = await client.get("/api/jobs/nope")
        missing = await client.get("/assets/nope.js")
        no_route = await client.delete("/api/nothing-here")
        wrong_method = await client.put("/api/jobs")

    assert page.status_code == 200 and "id=app" in page.text
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["cache-control"] == "no-cache"
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]
    assert api.json() == {"status": "error", "message": "Job not found."}
    assert missing.status_code == 404
    # The page does not shadow the API: its 404 and 405 are the API's own.
    assert no_route.status_code == 404
    assert no_route.json() == {"status": "error", "message": "Not found."}
    assert wrong_method.status_code == 405


async def test_without_a_web_build_root_leads_to_the_docs(
    settings: Settings, tmp_path: Path
) -> None:
    async with serve(create_app(settings, web_dist=tmp_path / "not-built")) as client:
        response = await client.get("/")
        docs = await client.get("/docs")

    assert response.status_code in (302, 307)
    assert response.headers["location"] == "/docs"
    assert docs.status_code == 200 and "swagger" in docs.text.lower()


async def test_cors_allows_only_configured_origins(settings: Settings) -> None:
    configured = settings.model_copy(update={"cors_origins": ["http://allowed.example"]})
    async for client in client_for(configured):
        allowed = await client.get("/api/jobs", headers={"Origin": "http://allowed.example"})
        other = await client.get("/api/jobs", headers={"Origin": "http://other.example"})

    assert allowed.headers.get("access-control-allow-origin") == "http://allowed.example"
    assert "access-control-allow-origin" not in other.headers


async def test_no_cors_by_default(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/jobs", headers={"Origin": "http://elsewhere.example"})

    assert "access-control-allow-origin" not in response.headers
