"""No secret reaches a job's events, its errorMessage, the worker's log or the job's files,
whatever an upstream answers; a job's child process inherits none of the service's secrets.
Each test performs the attack: OpenAI-compatible chat and speech servers that repeat the
request's Authorization header in their 400 answers, and a look at a running child's
environment."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db.repositories import Repositories
from app.settings import Settings
from tests.fakes import openai_chat, openai_speech
from tests.fakes.server import serving
from tests.integration.test_worker import queue_job
from worker.errors import ProviderError
from worker.kinds import in_loop_kind
from worker.main import Worker
from worker.options import VoiceOptions
from worker.providers.llm import OpenAIChat
from worker.providers.tts import OpenAISpeechEngine
from worker.runner import RunningJob

Maker = async_sessionmaker[AsyncSession]

# A key of no well-known shape (an LM Studio or vLLM token): only knowing it finds it.
PLAIN_KEY = "lm-studio-7f3a9c2e51d84b06c1"
SK_KEY = "sk-proj-Q1w2E3r4T5y6U7i8O9p0"
SCRIPT = "Octopuses have three hearts. Each arm can taste what it touches."
# About two minutes of narration: the child lives for seconds.
LONG_SCRIPT = " ".join(f"Fact number {n}: the octopus keeps surprising us." for n in range(60))
RUN_TIMEOUT_S = 60.0
LEAKY_DATABASE_URL = "postgresql://mp:db-pa55word-77c1@db.internal/mp"


def traces_of(key: str) -> list[str]:
    """What must not appear: the key, and the part of it after a well-known prefix."""
    return [key, key.split("-")[-1]]


def assert_no_trace(text: str, key: str) -> None:
    for trace in traces_of(key):
        assert trace not in text


# At the provider boundary


@pytest.mark.parametrize("key", [PLAIN_KEY, SK_KEY])
def test_a_chat_server_echoing_the_key_gets_an_error_without_it(key: str) -> None:
    fake = openai_chat.handler(echo_authorization=True)
    with serving(fake) as url, pytest.raises(ProviderError) as caught:
        OpenAIChat(f"{url}/v1", model="gpt-4o-mini", api_key=key, timeout_s=5).chat(
            [{"role": "user", "content": "Tides."}]
        )

    assert fake.headers_received == []  # refused before it was recorded
    message = caught.value.message
    assert message.startswith("OpenAI-compatible server: refused the request to ")
    assert "(HTTP 400): " in message and "Invalid request for key ***" in message
    assert_no_trace(message, key)


@pytest.mark.parametrize("key", [PLAIN_KEY, SK_KEY])
def test_a_speech_server_echoing_the_key_gets_an_error_without_it(tmp_path: Path, key: str) -> None:
    fake = openai_speech.handler(mode="echo-authorization")
    with serving(fake) as url, pytest.raises(ProviderError) as caught:
        options = VoiceOptions(provider="openai", speech_base_url=f"{url}/v1", speech_api_key=key)
        OpenAISpeechEngine(options).synthesize(["Tides."], tmp_path, voice=None, language="en")

    assert fake.requests[0]["authorization"] == f"Bearer {key}"
    message = caught.value.message
    assert "(HTTP 400): " in message and "Invalid request for key ***" in message
    assert_no_trace(message, key)


# At the job boundary: a real worker, its child, the API


async def run_until_idle(settings: Settings, maker: Maker) -> None:
    await asyncio.wait_for(Worker(settings, maker).run(wait=False), RUN_TIMEOUT_S)


async def public_record(client: httpx.AsyncClient, job_id: str) -> tuple[dict[str, Any], str]:
    """The job as GET /api/jobs/{id} shows it, and every event's text as /events serves them."""
    job = (await client.get(f"/api/jobs/{job_id}")).json()["job"]
    events = (await client.get(f"/api/jobs/{job_id}/events", params={"after": 0})).text
    return job, events


def files_text(folder: Path) -> str:
    return "\n".join(
        path.read_bytes().decode("utf-8", "replace") for path in folder.rglob("*") if path.is_file()
    )


@pytest.mark.parametrize("key", [PLAIN_KEY, SK_KEY])
async def test_an_llm_echoing_the_key_leaves_no_trace_in_the_job(
    settings: Settings,
    sessionmaker: Maker,
    client: httpx.AsyncClient,
    caplog: pytest.LogCaptureFixture,
    key: str,
) -> None:
    caplog.set_level(logging.DEBUG)
    with serving(openai_chat.handler(echo_authorization=True)) as url:
        settings = settings.model_copy(
            update={"llm_provider": "openai", "openai_base_url": f"{url}/v1", "openai_api_key": key}
        )
        job_id = await queue_job(sessionmaker)  # no script: the LLM is asked for one

        await run_until_idle(settings, sessionmaker)

    job, events = await public_record(client, job_id)
    assert job["state"] == "failed"
    assert "(HTTP 400)" in job["errorMessage"]  # the echo was received and reported
    for text in (job["errorMessage"], events, caplog.text, files_text(settings.jobs_dir)):
        assert_no_trace(text, key)


@pytest.mark.parametrize("key", [PLAIN_KEY, SK_KEY])
async def test_a_speech_server_echoing_the_key_leaves_no_trace_in_the_job(
    settings: Settings,
    sessionmaker: Maker,
    client: httpx.AsyncClient,
    caplog: pytest.LogCaptureFixture,
    key: str,
) -> None:
    caplog.set_level(logging.DEBUG)
    with serving(openai_speech.handler(mode="echo-authorization")) as url:
        settings = settings.model_copy(
            update={"tts_provider": "openai", "speech_base_url": f"{url}/v1", "speech_api_key": key}
        )
        job_id = await queue_job(sessionmaker, script=SCRIPT)

        await run_until_idle(settings, sessionmaker)

    job, events = await public_record(client, job_id)
    assert job["state"] == "failed"
    assert "OpenAI speech" in job["errorMessage"] and "(HTTP 400)" in job["errorMessage"]
    for text in (job["errorMessage"], events, caplog.text, files_text(settings.jobs_dir)):
        assert_no_trace(text, key)


@in_loop_kind("leaky-test-kind")
async def leaky(_job: RunningJob) -> None:
    # What a careless library might say: the database URL it was given, a token it was sent.
    raise RuntimeError(f"cannot reach {LEAKY_DATABASE_URL}; sent Bearer abc.def-123")


async def test_the_worker_scrubs_every_configured_secret_from_what_a_job_reports(
    settings: Settings, sessionmaker: Maker, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="worker")
    # The configured URL only: the worker keeps the test's database (and listens to none).
    settings = settings.model_copy(
        update={"database_url": LEAKY_DATABASE_URL, "listen_notify": False}
    )
    async with sessionmaker.begin() as session:
        job = await Repositories(session).jobs.create(
            payload={"videoSubject": "leak"}, kind="leaky-test-kind", max_attempts=1
        )

    await run_until_idle(settings, sessionmaker)

    async with sessionmaker() as session:
        stored = await Repositories(session).jobs.get(job.id)
        events = await Repositories(session).events.list_after(job.id)
    assert stored is not None and stored.status == "failed"
    assert stored.error_message == (
        "RuntimeError: cannot reach postgresql://mp:***@db.internal/mp; sent Bearer ***"
    )
    for text in (stored.error_message, *(event.message for event in events), caplog.text):
        assert "db-pa55word-77c1" not in text and "abc.def-123" not in text


async def test_a_jobs_child_inherits_none_of_the_services_secrets(
    settings: Settings, sessionmaker: Maker, monkeypatch: pytest.MonkeyPatch
) -> None:
    secrets = {
        "MONEYPRINTER_API_KEY": "api-key-4b1d9e",
        "OPENAI_API_KEY": SK_KEY,
        "MONEYPRINTER_SPEECH_API_KEY": PLAIN_KEY,
        "DATABASE_URL": "postgresql://mp:db-password-77c1@db.internal/mp",
        "AWS_SECRET_ACCESS_KEY": "aws-secret-0f9e8d",  # whatever else the host's environment holds
    }
    for name, value in secrets.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("LC_TIME", "C.UTF-8")
    job_id = await queue_job(sessionmaker, script=LONG_SCRIPT)
    worker = Worker(settings, sessionmaker)
    task = asyncio.create_task(worker.run())
    try:
        while (pid := worker.running_child_pid(job_id)) is None:
            assert not task.done()
            await asyncio.sleep(0.05)
        environ = Path(f"/proc/{pid}/environ").read_bytes().decode()
    finally:
        worker.stop(now=True)
        await asyncio.wait_for(task, RUN_TIMEOUT_S)

    inherited = dict(entry.split("=", 1) for entry in environ.split("\0") if entry)
    for value in secrets.values():
        assert value not in environ
    assert not [name for name in inherited if name.startswith("MONEYPRINTER_")]
    assert inherited["PATH"]  # what it needs to run its programs is still there
    assert inherited["LC_TIME"] == "C.UTF-8"
