"""The API key on every route but the health check and the page, URL tokens for what a browser
loads by address, and request bodies refused before they are read: each attack performed."""

from __future__ import annotations

import base64
import json
import socket
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.api.auth import UrlTokens
from app.main import create_app
from app.settings import Settings
from tests.integration.test_api_artifacts import VIDEO_BYTES, completed_job
from tests.support.live import serving_in_thread

KEY = "s3cret-key"
KEYED = {"X-API-Key": KEY}
KEY_REQUIRED = "API key required: send 'Authorization: Bearer <key>' or 'X-API-Key'."
SONG = "theme-0a1b2c3d.mp3"
SONG_BYTES = b"\xff\xfb\x90\x64" * 64
MB = 1024 * 1024


def get_routes() -> list[str]:
    """Every GET route the API describes, as its path template (the health check is open by
    design)."""
    paths = create_app(Settings(_env_file=None)).openapi()["paths"]  # type: ignore[call-arg]
    return sorted(
        path for path, operations in paths.items() if "get" in operations and path != "/api/health"
    )


GET_ROUTES = get_routes()


@asynccontextmanager
async def serve(
    settings: Settings, *, headers: dict[str, str] | None = None
) -> AsyncIterator[httpx.AsyncClient]:
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://testserver", headers=headers
        ) as client:
            yield client


@pytest.fixture
def keyed(settings: Settings) -> Settings:
    return settings.model_copy(update={"api_key": KEY})


class Library:
    """A completed job with a video, a second job, and a song: something behind every route."""

    def __init__(self, job_id: str, artifact_id: int, other_job_id: str, batch_id: str) -> None:
        self.job_id = job_id
        self.artifact_id = artifact_id
        self.other_job_id = other_job_id
        self.batch_id = batch_id

    def path(self, template: str) -> str:
        return template.format(
            job_id=self.job_id, artifact_id=self.artifact_id, name=SONG, voice_id="no-such-voice",
            batch_id=self.batch_id,
        )  # fmt: skip


@pytest.fixture
async def library(
    keyed: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> AsyncIterator[Library]:
    async with serve(keyed, headers=KEYED) as client:
        job_id, artifact_id = await completed_job(client, sessionmaker, keyed)
        other = await client.post("/api/generate", json={"videoSubject": "other", "script": "Hi."})
        batch = await client.post(
            "/api/batches", json={"jobs": [{"videoSubject": "batched", "script": "Hi."}]}
        )
    keyed.songs_dir.mkdir(parents=True, exist_ok=True)
    (keyed.songs_dir / SONG).write_bytes(SONG_BYTES)
    yield Library(job_id, artifact_id, other.json()["jobId"], batch.json()["batchId"])


def assert_refused(response: httpx.Response, message: str) -> None:
    assert response.status_code == 401, (response.request.url, response.text)
    assert response.json() == {"status": "error", "message": message}
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.headers["connection"] == "close"


# -- the key ----------------------------------------------------------------------------------

# With the key, each route answers as it would without one: the voice is unknown on purpose
# (a real sample would be synthesised).
# A completed job has no storyboard (only one queued for review has).
ANSWER_WITH_KEY = {
    "/api/voices/{voice_id}/sample": 404,
    "/api/jobs/{job_id}/storyboard": 409,
    "/api/jobs/{job_id}/storyboard/clips/{name}": 404,  # a song's name is no clip's
}


async def test_every_get_route_needs_the_key(keyed: Settings, library: Library) -> None:
    assert len(GET_ROUTES) == 21, GET_ROUTES
    async with serve(keyed) as client:
        for template in GET_ROUTES:
            path = library.path(template)
            assert_refused(await client.get(path), KEY_REQUIRED)
            assert_refused(
                await client.get(path, headers={"X-API-Key": "nope"}), "Invalid API key."
            )
            head = await client.head(path)
            assert head.status_code == 401 and head.headers["www-authenticate"] == "Bearer"
            header = await client.get(path, headers=KEYED)
            bearer = await client.get(path, headers={"Authorization": f"Bearer {KEY}"})
            expected = ANSWER_WITH_KEY.get(template, 200)
            assert (header.status_code, bearer.status_code) == (expected, expected), template


MUTATIONS = [
    ("POST", "/api/generate", {"json": {"videoSubject": "tides", "script": "Hi."}}),
    ("POST", "/api/jobs/some-id/cancel", {}),
    ("POST", "/api/cancel", {}),
    ("POST", "/api/jobs/00000000-0000-4000-8000-000000000000/retry", {}),
    ("POST", "/api/upload-songs", {"files": {"songs": ("a.mp3", b"x", "audio/mpeg")}}),
    ("DELETE", "/api/songs/a.mp3", {}),
    ("POST", "/api/tokens", {"json": {"scope": "/api/songs"}}),
    ("POST", "/api/batches", {"json": {"jobs": [{"videoSubject": "tides", "script": "Hi."}]}}),
    ("POST", "/api/batches/00000000-0000-4000-8000-000000000000/cancel", {}),
    ("POST", "/api/batches/00000000-0000-4000-8000-000000000000/retry", {}),
    ("PATCH", "/api/jobs/00000000-0000-4000-8000-000000000000/storyboard", {"json": {}}),
    ("POST", "/api/jobs/00000000-0000-4000-8000-000000000000/render", {}),
    (
        "POST",
        "/api/jobs/00000000-0000-4000-8000-000000000000/storyboard/search",
        {"json": {"query": "reef"}},
    ),
]


@pytest.mark.parametrize(("method", "path", "kwargs"), MUTATIONS)
@pytest.mark.parametrize("public_reads", [False, True])
async def test_every_mutation_needs_the_key(
    keyed: Settings, method: str, path: str, kwargs: dict[str, object], public_reads: bool
) -> None:
    async with serve(keyed.model_copy(update={"public_reads": public_reads})) as client:
        missing = await client.request(method, path, **kwargs)  # type: ignore[arg-type]
        wrong = await client.request(method, path, headers={"X-API-Key": "nope"}, **kwargs)  # type: ignore[arg-type]
        bearer = await client.request(
            method,
            path,
            headers={"Authorization": f"Bearer {KEY}"},
            **kwargs,  # type: ignore[arg-type]
        )
        header = await client.request(method, path, headers=KEYED, **kwargs)  # type: ignore[arg-type]

    assert_refused(missing, KEY_REQUIRED)
    assert_refused(wrong, "Invalid API key.")
    assert bearer.status_code != 401 and header.status_code != 401


async def test_public_reads_open_every_read_and_nothing_else(
    keyed: Settings, library: Library
) -> None:
    async with serve(keyed.model_copy(update={"public_reads": True})) as client:
        reads = {template: await client.get(library.path(template)) for template in GET_ROUTES}
        generate = await client.post("/api/generate", json={"videoSubject": "x", "script": "Hi."})

    assert {t: r.status_code for t, r in reads.items()} == {
        t: ANSWER_WITH_KEY.get(t, 200) for t in GET_ROUTES
    }
    assert_refused(generate, KEY_REQUIRED)


async def test_the_page_health_and_api_description_stay_open(
    keyed: Settings, tmp_path: Path
) -> None:
    dist = tmp_path / "dist"
    (dist / "assets").mkdir(parents=True)
    (dist / "index.html").write_text("<!doctype html><div id=app></div>")
    (dist / "assets" / "app.js").write_text("console.log('hi')")
    application = create_app(keyed, web_dist=dist)
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            answers = {
                path: (await client.get(path)).status_code
                for path in ("/", "/assets/app.js", "/api/health", "/docs", "/openapi.json")
            }
            unknown = await client.get("/api/nothing-here")
            assets_alike = await client.get("/assetsx/app.js")

    assert answers == dict.fromkeys(answers, 200)
    assert_refused(unknown, KEY_REQUIRED)  # an unknown path tells nothing without the key
    assert_refused(assets_alike, KEY_REQUIRED)


async def test_cors_preflights_pass_and_refusals_are_readable_cross_origin(
    keyed: Settings,
) -> None:
    origin = {"Origin": "http://allowed.example"}
    configured = keyed.model_copy(update={"cors_origins": ["http://allowed.example"]})
    async with serve(configured) as client:
        preflight = await client.options(
            "/api/jobs",
            headers={
                **origin,
                "Access-Control-Request-Method": "GET",
                "Access-Control-Request-Headers": "x-api-key",
            },
        )
        refused = await client.get("/api/jobs", headers=origin)

    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "http://allowed.example"
    assert_refused(refused, KEY_REQUIRED)
    assert refused.headers["access-control-allow-origin"] == "http://allowed.example"


async def test_without_a_key_everything_is_open_and_tokens_are_not_needed(
    settings: Settings,
) -> None:
    async with serve(settings) as client:
        jobs = await client.get("/api/jobs")
        token = await client.post("/api/tokens", json={"scope": "/api/songs"})

    assert jobs.status_code == 200
    assert token.status_code == 200
    assert token.json() == {
        "status": "success",
        "token": None,
        "scope": "/api/songs",
        "expiresInSeconds": None,
    }


# -- URL tokens -------------------------------------------------------------------------------


async def issue(client: httpx.AsyncClient, scope: str) -> str:
    response = await client.post("/api/tokens", json={"scope": scope}, headers=KEYED)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["scope"] == scope and body["expiresInSeconds"] == 600
    return str(body["token"])


async def test_a_token_opens_reads_within_its_scope_only(keyed: Settings, library: Library) -> None:
    job = f"/api/jobs/{library.job_id}"
    async with serve(keyed) as client:
        token = await issue(client, job)
        within = {
            path: await client.get(path, params={"token": token})
            for path in (
                job,
                f"{job}/events",
                f"{job}/stream",
                f"{job}/artifacts",
                f"{job}/video",
                f"{job}/artifacts/{library.artifact_id}",
            )
        }
        ranged = await client.get(
            f"{job}/video", params={"token": token}, headers={"Range": "bytes=0-99"}
        )
        outside = [
            await client.get(path, params={"token": token})
            for path in (
                f"/api/jobs/{library.other_job_id}",
                f"/api/jobs/{library.other_job_id}/video",
                "/api/jobs",
                f"/api/songs/{SONG}",
                f"{job}x",  # a longer id with the same start
            )
        ]
        # Dot segments, percent-encoded so that the client sends them as they are.
        climbing = await client.get(f"{job}/%2E%2E/{library.other_job_id}?token={token}")
        songs_token = await issue(client, "/api/songs")
        song = await client.get(f"/api/songs/{SONG}", params={"token": songs_token})
        songs = await client.get("/api/songs", params={"token": songs_token})

    assert {path: r.status_code for path, r in within.items()} == dict.fromkeys(within, 200)
    assert within[f"{job}/video"].content == VIDEO_BYTES
    assert "event: end" in within[f"{job}/stream"].text
    assert ranged.status_code == 206 and ranged.content == VIDEO_BYTES[:100]
    for response in [*outside, climbing]:
        assert_refused(response, "The token does not cover this path.")
    assert song.status_code == 200 and song.content == SONG_BYTES
    assert songs.status_code == 200 and songs.json()["songs"][0]["name"] == SONG


async def test_a_token_never_opens_a_mutation(keyed: Settings, library: Library) -> None:
    job = f"/api/jobs/{library.other_job_id}"
    async with serve(keyed) as client:
        token = await issue(client, job)
        cancel = await client.post(f"{job}/cancel", params={"token": token})
        more = await client.post(
            "/api/tokens", params={"token": token}, json={"scope": "/api/jobs"}
        )
        state = (await client.get(job, headers=KEYED)).json()["job"]["state"]

    assert_refused(cancel, KEY_REQUIRED)
    assert_refused(more, KEY_REQUIRED)  # a token cannot make tokens
    assert state == "queued"


async def test_expired_forged_and_foreign_tokens_are_refused(
    keyed: Settings, library: Library
) -> None:
    job = f"/api/jobs/{library.job_id}"
    video = f"{job}/video"
    an_hour_ago = UrlTokens(KEY, ttl_s=600, clock=lambda: time.time() - 3600).issue(job)
    other_key = UrlTokens("another-key", ttl_s=600).issue(job)
    async with serve(keyed) as client:
        token = await issue(client, f"/api/jobs/{library.other_job_id}")
        # Forged: the same signature on the scope of the job the attacker wants.
        expires, _scope, mac = token.split(".")
        wanted = base64.urlsafe_b64encode(job.encode()).rstrip(b"=").decode()
        rescoped = f"{expires}.{wanted}.{mac}"
        extended = f"{int(expires) + 86_400}.{_scope}.{mac}"
        answers = {
            "expired": await client.get(video, params={"token": an_hour_ago}),
            "other key": await client.get(video, params={"token": other_key}),
            "rescoped": await client.get(video, params={"token": rescoped}),
            "extended": await client.get(
                f"/api/jobs/{library.other_job_id}", params={"token": extended}
            ),
            "garbage": await client.get(video, params={"token": "not-a-token"}),
            "empty": await client.get(video, params={"token": ""}),
            "twice": await client.get(video, params=[("token", token), ("token", token)]),
        }
        # A token never overrides a wrong key.
        wrong_key = await client.get(
            f"/api/jobs/{library.other_job_id}",
            params={"token": token},
            headers={"X-API-Key": "nope"},
        )

    assert_refused(answers.pop("expired"), "Token expired.")
    for name, response in answers.items():
        assert response.status_code == 401, name
        assert_refused(response, "Invalid token.")
    assert_refused(wrong_key, "Invalid API key.")


@pytest.mark.parametrize(
    ("scope", "message"),
    [
        ("/etc/passwd", "scope: an API path such as /api/jobs/<id> or /api/songs."),
        ("/api/songs?x=1", "scope: an API path such as /api/jobs/<id> or /api/songs."),
        ("/api/jobs/../songs", "scope: no empty, '.' or '..' segments, and no trailing '/'."),
        ("/api/songs/", "scope: no empty, '.' or '..' segments, and no trailing '/'."),
        ("/api/songs\n", "scope: no control characters."),
    ],
)
async def test_a_token_scope_must_be_a_clean_api_path(
    keyed: Settings, scope: str, message: str
) -> None:
    async with serve(keyed, headers=KEYED) as client:
        response = await client.post("/api/tokens", json={"scope": scope})

    assert response.status_code == 400
    assert response.json() == {"status": "error", "message": message}


# -- bodies -----------------------------------------------------------------------------------


class CountingBody:
    """A request body of `chunks` MB that records how much of it the server pulled."""

    def __init__(self, chunks: int) -> None:
        self.chunks = chunks
        self.pulled = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for _ in range(self.chunks):
            self.pulled += 1
            yield b" " * MB


async def test_a_huge_body_without_the_key_is_refused_unread(keyed: Settings) -> None:
    """The attack of the issue: 500 MB to /api/generate, and a chunked upload, without a key."""
    async with serve(keyed) as client:
        declared, chunked, upload = CountingBody(500), CountingBody(500), CountingBody(500)
        answers = [
            await client.post(
                "/api/generate",
                content=declared,
                headers={"Content-Type": "application/json", "Content-Length": str(500 * MB)},
            ),
            await client.post(
                "/api/generate", content=chunked, headers={"Content-Type": "application/json"}
            ),
            await client.post(
                "/api/upload-songs",
                content=upload,
                headers={"Content-Type": "multipart/form-data; boundary=x"},
            ),
        ]

    for response in answers:
        assert_refused(response, KEY_REQUIRED)
    assert (declared.pulled, chunked.pulled, upload.pulled) == (0, 0, 0)
    assert not keyed.songs_dir.exists() or not any(keyed.songs_dir.iterdir())


async def test_a_json_body_over_the_limit_is_refused_as_it_streams(keyed: Settings) -> None:
    async with serve(keyed, headers=KEYED) as client:
        declared, chunked = CountingBody(500), CountingBody(500)
        refused_declared = await client.post(
            "/api/generate",
            content=declared,
            headers={"Content-Type": "application/json", "Content-Length": str(500 * MB)},
        )
        refused_chunked = await client.post(
            "/api/generate", content=chunked, headers={"Content-Type": "application/json"}
        )
        # 9 kB, well under the byte limit, and 1,200 words, under the script's word cap.
        script = "Octopuses have three hearts. " * 300
        accepted = await client.post(
            "/api/generate", json={"videoSubject": "tides", "script": script.strip()}
        )
        jobs = (await client.get("/api/jobs")).json()["total"]

    for response in (refused_declared, refused_chunked):
        assert response.status_code == 413
        assert response.json() == {
            "status": "error",
            "message": "Request body is larger than 1 MB.",
        }
        assert response.headers["connection"] == "close"
    assert declared.pulled == 0
    assert chunked.pulled <= 2  # read up to the limit, never past it
    assert accepted.status_code == 200, accepted.text
    assert jobs == 1


async def test_a_json_body_just_over_a_small_limit_queues_nothing(settings: Settings) -> None:
    """The part within the limit is valid JSON: the app must still never act on a cut body."""
    tight = settings.model_copy(update={"max_json_bytes": 64})

    async def body() -> AsyncIterator[bytes]:
        yield json.dumps({"videoSubject": "tides", "script": "Hi."}).encode()
        yield b" " * 64

    async with serve(tight) as client:
        response = await client.post(
            "/api/generate", content=body(), headers={"Content-Type": "application/json"}
        )
        jobs = (await client.get("/api/jobs")).json()["total"]

    assert response.status_code == 413
    assert response.json()["message"] == "Request body is larger than 64 bytes."
    assert jobs == 0


@pytest.fixture
def live_server(keyed: Settings) -> Iterator[int]:
    """The keyed app under a real uvicorn, on a free loopback port."""
    with serving_in_thread(create_app(keyed)) as port:
        yield port


def raw_request(port: int, head: str, body: bytes = b"") -> bytes:
    """Send a request's head (and the start of a body) over a socket; everything the server
    answers until it closes the connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        connection.sendall(head.replace("\n", "\r\n").encode() + b"\r\n" + body)
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    return answer


def test_a_real_server_answers_401_before_the_body_and_closes(live_server: int) -> None:
    """Only the head is sent: the answer comes without the server waiting for 500 MB."""
    declared = raw_request(
        live_server,
        f"POST /api/generate HTTP/1.1\nHost: 127.0.0.1\nContent-Type: application/json\n"
        f"Content-Length: {500 * MB}\n",
    )
    chunked = raw_request(
        live_server,
        "POST /api/upload-songs HTTP/1.1\nHost: 127.0.0.1\nTransfer-Encoding: chunked\n"
        "Content-Type: multipart/form-data; boundary=x\n",
        b"100000\r\n" + b"-" * 4096,  # the first 4 kB of a 1 MB chunk, then nothing
    )

    for answer in (declared, chunked):
        head, _, body = answer.partition(b"\r\n\r\n")
        lines = head.decode().lower().split("\r\n")
        assert lines[0] == "http/1.1 401 unauthorized"
        assert "connection: close" in lines and "www-authenticate: bearer" in lines
        assert json.loads(body) == {"status": "error", "message": KEY_REQUIRED}
