"""The original MoneyPrinter page's requests, exactly as its app.js sends them (text for numbers,
`voice: ""` when none is picked, TikTok voice ids, its cancel with a JSON content type and no
body, its poll loop of `/events?after=N` then `/api/jobs/{id}`), against our API and worker on
both databases, with a loopback Ollama as its LLM."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.domain import VideoSpec
from app.settings import Settings
from tests.fakes import ollama
from tests.fakes.server import serving
from tests.support.running import api_client
from worker.main import Worker
from worker.options import PipelineOptions
from worker.pipeline.base import ProgressEvent
from worker.pipeline.run import run_pipeline

Maker = async_sessionmaker[AsyncSession]

JSON_HEADERS = {"Content-Type": "application/json", "Accept": "application/json"}
ACCEPT = {"Accept": "application/json"}
NARRATION = "Octopuses have three hearts. Each of their arms can taste what it touches."
RUN_TIMEOUT_S = 120.0


def page_request(**fields: Any) -> dict[str, Any]:
    """app.js `generateVideo`'s body: every field, the numbers as the inputs' text."""
    return {
        "videoSubject": "Why octopuses are smart",
        "aiModel": "llama3.1:8b",
        "voice": "en_us_006",
        "paragraphNumber": "1",
        "automateYoutubeUpload": False,
        "useMusic": False,
        "threads": "2",
        "subtitlesPosition": "center,bottom",
        "customPrompt": "",
        "color": "#FFFF00",
        **fields,
    }


@pytest.fixture
def fake_ollama() -> Iterator[tuple[str, type[ollama.OllamaHandler]]]:
    handler = ollama.handler(replies=[NARRATION])
    with serving(handler) as url:
        yield url, handler


@pytest.fixture
def page_settings(settings: Settings, fake_ollama: tuple[str, Any]) -> Settings:
    """The service as a user runs it for that page: Ollama as the LLM, the default voices."""
    url, _ = fake_ollama
    return settings.model_copy(
        update={"llm_provider": "ollama", "ollama_base_url": url, "tts_provider": "auto"}
    )


async def poll_like_the_page(
    client: httpx.AsyncClient, job_id: str, *, until: asyncio.Task[None]
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """app.js `pollJob`, every 1.2 s there (faster here): the events after the last id seen,
    then the job, until the job has ended and the worker is done."""
    events: list[dict[str, Any]] = []
    last_id = 0
    while True:
        page = await client.get(f"/api/jobs/{job_id}/events?after={last_id}", headers=ACCEPT)
        assert page.status_code == 200
        for event in page.json()["events"]:
            events.append(event)
            last_id = max(last_id, event["id"])
        job = (await client.get(f"/api/jobs/{job_id}", headers=ACCEPT)).json()["job"]
        if job["state"] in ("completed", "failed", "cancelled") and until.done():
            return events, job
        await asyncio.sleep(0.2)


async def run_page_job(
    client: httpx.AsyncClient, settings: Settings, maker: Maker, body: dict[str, Any]
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    queued = await client.post("/api/generate", json=body, headers=JSON_HEADERS)
    assert queued.status_code == 200, queued.text
    assert queued.json()["message"] == "Video generation queued."
    job_id = queued.json()["jobId"]
    worker = asyncio.create_task(Worker(settings, maker).run(wait=False))
    events, job = await asyncio.wait_for(
        poll_like_the_page(client, job_id, until=worker), RUN_TIMEOUT_S
    )
    await worker
    return events, job


@pytest.fixture
async def page_client(page_settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with api_client(page_settings) as client:
        yield client


async def test_the_page_makes_a_video_and_its_log_shows_real_times(
    page_client: httpx.AsyncClient, page_settings: Settings, sessionmaker: Maker
) -> None:
    before = datetime.now(UTC).timestamp()

    events, job = await run_page_job(page_client, page_settings, sessionmaker, page_request())

    assert job["state"] == "completed", job["errorMessage"]
    after = datetime.now(UTC).timestamp()
    for event in events:
        # app.js shows `new Date(timestamp * 1000)`: epoch seconds, as the original sent them.
        assert isinstance(event["timestamp"], float)
        assert before - 1 <= event["timestamp"] <= after + 1
        created = datetime.fromisoformat(event["createdAt"])
        assert abs(created.timestamp() - event["timestamp"]) < 0.001
    warnings = [event["message"] for event in events if event["level"] == "warning"]
    # en_us_006 is TikTok's US male voice: spoken by the Piper voice, and said so.
    assert (
        "The voice en_us_006 (English (US) Male 1) is TikTok's, which is not available: spoken "
        "by piper:en_US-joe-medium instead." in warnings
    )
    assert not any("offline fallbacks" in message for message in warnings)


@pytest.mark.parametrize(
    ("fields", "stored"),
    [
        ({"paragraphNumber": "100", "threads": "100"}, {"paragraphNumber": 100, "threads": 100}),
        ({"paragraphNumber": "", "threads": ""}, {"paragraphNumber": 1, "threads": 2}),
        ({"voice": ""}, {"voice": "", "language": "en"}),
        ({"voice": "fr_001"}, {"voice": "fr_001", "language": "fr"}),
        ({"voice": "jp_001"}, {"voice": "jp_001", "language": "ja"}),
        ({"voice": "fr_001", "language": "en"}, {"voice": "fr_001", "language": "en"}),
    ],
)
async def test_what_the_page_lets_a_user_send_is_accepted(
    client: httpx.AsyncClient, fields: dict[str, Any], stored: dict[str, Any]
) -> None:
    queued = await client.post("/api/generate", json=page_request(**fields), headers=JSON_HEADERS)

    assert queued.status_code == 200, queued.text
    job = (await client.get(f"/api/jobs/{queued.json()['jobId']}")).json()["job"]
    assert {name: job["payload"][name] for name in stored} == stored


async def test_cancelling_a_job_that_has_ended_says_so(client: httpx.AsyncClient) -> None:
    job_id = (await client.post("/api/generate", json=page_request(), headers=JSON_HEADERS)).json()[
        "jobId"
    ]
    await client.post(f"/api/jobs/{job_id}/cancel", headers=JSON_HEADERS)

    # app.js `cancelGeneration`: POST with a JSON content type and no body; any non-2xx answer
    # reads "Failed to cancel. Is the server running?".
    again = await client.post(f"/api/jobs/{job_id}/cancel", headers=JSON_HEADERS)

    assert again.status_code == 200
    assert again.json()["message"] == "Job already cancelled; nothing to cancel."
    assert again.json()["state"] == "cancelled"


async def test_without_an_llm_the_job_says_what_happened_and_what_to_do(
    client: httpx.AsyncClient, settings: Settings, sessionmaker: Maker
) -> None:
    # Ollama configured but not running (the test settings point it at a closed port).
    settings = settings.model_copy(update={"llm_provider": "ollama"})

    events, job = await run_page_job(client, settings, sessionmaker, page_request())

    assert job["state"] == "failed"
    message = job["errorMessage"]
    assert message.startswith("Ollama: could not connect to Ollama at http://127.0.0.1:9")
    assert "start Ollama (`ollama serve`" in message
    assert "MONEYPRINTER_OPENAI_BASE_URL" in message
    assert "the Script field of MoneyPrinter's own web page" in message
    # Nothing fell back: no script, no video, and no word of offline fallbacks.
    assert not any("offline fallbacks" in event["message"] for event in events)


def test_paragraphs_past_the_script_cap_are_asked_for_as_many_as_fit_with_a_warning(
    tmp_path: Path, fake_ollama: tuple[str, type[ollama.OllamaHandler]]
) -> None:
    url, handler = fake_ollama
    spec = VideoSpec.model_validate(page_request(paragraphNumber="100", voice="fr_001"))
    spec = spec.model_copy(update={"quality": "draft"})
    options = PipelineOptions.from_settings(
        Settings(
            _env_file=None,  # type: ignore[call-arg]
            data_dir=tmp_path / "data",
            llm_provider="ollama",
            ollama_base_url=url,
            max_script_words=600,
        )
    )
    events: list[ProgressEvent] = []

    run_pipeline(spec, tmp_path / "work", options=options, report=events.append)

    prompt = handler.received[0]["messages"][-1]["content"]
    assert "10 paragraphs of 3 to 5 sentences" in prompt  # 600 words hold 10 of about 60
    assert "write it in French" in prompt  # fr_001's language: the original wrote in it
    warnings = [event.message for event in events if event.level == "warning"]
    assert (
        "100 paragraphs would run past the script cap of 600 words: asking the LLM for 10."
        in warnings
    )
    assert (
        "The voice fr_001 (French Male 1) is TikTok's, which is not available: spoken by "
        "espeak-ng:fr-fr instead." in warnings
    )
