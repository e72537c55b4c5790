"""The API's edge over HTTP: CORS for the original MoneyPrinter page (its Frontend/ served on
http://localhost:3000, sending exactly what its app.js sends), and the Host check against DNS
rebinding, with the defaults that follow from the address the server listens on."""

from __future__ import annotations

import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from app.main import create_app
from app.settings import Settings, find_ffmpeg

PAGE = "http://localhost:3000"  # where the original page is served; it calls :8080
SERVER = "http://localhost:8080"
JSON_HEADERS = {"Origin": PAGE, "Accept": "application/json"}
POST_HEADERS = {**JSON_HEADERS, "Content-Type": "application/json"}
SCRIPT = "Octopuses have three hearts. Each arm can taste what it touches."


@asynccontextmanager
async def client_for(
    settings: Settings, *, base_url: str = SERVER, **changes: Any
) -> AsyncIterator[httpx.AsyncClient]:
    """The app built from `settings` with `changes`, and a client of it at `base_url`. No allowed
    hosts unless `changes` say: the defaults are under test (conftest allows `testserver`)."""
    application = create_app(settings.model_copy(update={"allowed_hosts": [], **changes}))
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url=base_url) as client:
            yield client


@pytest.fixture(scope="module")
def mp3(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    path = tmp_path_factory.mktemp("audio") / "tone.mp3"
    subprocess.run(
        [find_ffmpeg(), "-v", "error", "-f", "lavfi", "-i", "sine=duration=1", str(path)],
        check=True,
    )
    return path.read_bytes()


def preflight(path: str, *, origin: str = PAGE, headers: str | None = None) -> dict[str, str]:
    """What a browser sends before a POST the page makes: the method, and the headers it set
    beyond the always-allowed ones (a `fetch` with a JSON body: `content-type`)."""
    sent = {"Origin": origin, "Access-Control-Request-Method": "POST"}
    if headers is not None:
        sent["Access-Control-Request-Headers"] = headers
    return sent


# -- CORS ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "requested_headers"),
    [
        ("/api/generate", "content-type"),
        ("/api/jobs/0b5c6c0e-1b7e-4a5e-9a39-0f7f0c6f5a11/cancel", "content-type"),
        ("/api/cancel", "content-type"),
        ("/api/upload-songs", None),  # FormData: no header of its own
    ],
)
async def test_the_original_page_preflights_pass_on_a_loopback_server(
    settings: Settings, path: str, requested_headers: str | None
) -> None:
    async with client_for(settings) as client:
        response = await client.options(path, headers=preflight(path, headers=requested_headers))

    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == PAGE
    assert "POST" in response.headers["access-control-allow-methods"].split(", ")
    allowed_headers = response.headers["access-control-allow-headers"].lower().split(", ")
    assert {"content-type", "accept", "authorization", "x-api-key"} <= set(allowed_headers)


async def test_the_original_page_calls_get_cors_headers_on_a_loopback_server(
    settings: Settings, mp3: bytes
) -> None:
    async with client_for(settings) as client:
        models = await client.get("/api/models", headers=JSON_HEADERS)
        body = {"videoSubject": "Octopuses", "script": SCRIPT, "paragraphNumber": "1"}
        generated = await client.post("/api/generate", json=body, headers=POST_HEADERS)
        job_id = generated.json()["jobId"]
        events = await client.get(f"/api/jobs/{job_id}/events?after=0", headers=JSON_HEADERS)
        job = await client.get(f"/api/jobs/{job_id}", headers=JSON_HEADERS)
        cancelled = await client.post(f"/api/jobs/{job_id}/cancel", headers=POST_HEADERS)
        none_active = await client.post("/api/cancel", headers=POST_HEADERS)
        uploaded = await client.post(
            "/api/upload-songs",
            files=[("songs", ("tone.mp3", mp3, "audio/mpeg"))],
            headers={"Origin": PAGE},
        )
        refused = await client.post(
            "/api/upload-songs",
            files=[("songs", ("notes.mp3", b"not audio", "audio/mpeg"))],
            headers={"Origin": PAGE},
        )

    answers = [models, generated, events, job, cancelled, none_active, uploaded, refused]
    assert [r.status_code for r in answers] == [200, 200, 200, 200, 200, 404, 200, 400]
    # The page reads every answer, errors included (it shows their `message`).
    assert [r.headers.get("access-control-allow-origin") for r in answers] == [PAGE] * 8
    assert job.json()["job"]["state"] == "queued"


@pytest.mark.parametrize(
    "origin",
    ["http://127.0.0.1:5173", "http://[::1]:3000", "http://localhost", "https://localhost:8443"],
)
async def test_every_loopback_origin_is_allowed_on_a_loopback_server(
    settings: Settings, origin: str
) -> None:
    async with client_for(settings) as client:
        response = await client.get("/api/health", headers={"Origin": origin})

    assert response.headers.get("access-control-allow-origin") == origin


@pytest.mark.parametrize(
    "origin",
    [
        "http://evil.example:3000",
        "http://localhost.evil.example:3000",
        "http://127.0.0.1.nip.io:3000",
        "http://192.168.1.20:3000",
        "null",
    ],
)
async def test_other_origins_get_no_cors_headers(settings: Settings, origin: str) -> None:
    async with client_for(settings) as client:
        plain = await client.get("/api/jobs", headers={"Origin": origin})
        checked = await client.options(
            "/api/generate",
            headers=preflight("/api/generate", origin=origin, headers="content-type"),
        )

    assert plain.status_code == 200
    assert "access-control-allow-origin" not in plain.headers
    assert checked.status_code == 400
    assert "access-control-allow-origin" not in checked.headers


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.20"])
async def test_a_server_listening_beyond_loopback_sends_no_cors_headers_by_default(
    settings: Settings, host: str
) -> None:
    async with client_for(settings, host=host) as client:
        plain = await client.get("/api/models", headers=JSON_HEADERS)
        checked = await client.options(
            "/api/generate", headers=preflight("/api/generate", headers="content-type")
        )

    assert plain.status_code == 200
    assert "access-control-allow-origin" not in plain.headers
    assert checked.status_code == 405
    assert "access-control-allow-origin" not in checked.headers


async def test_configured_origins_replace_the_loopback_ones(settings: Settings) -> None:
    app_origin = "https://studio.example.org"
    async with client_for(settings, host="0.0.0.0", cors_origins=[app_origin]) as client:
        configured = await client.options(
            "/api/generate", headers=preflight("/api/generate", origin=app_origin)
        )
        loopback = await client.get("/api/jobs", headers={"Origin": PAGE})

    assert configured.status_code == 200
    assert configured.headers["access-control-allow-origin"] == app_origin
    assert "access-control-allow-origin" not in loopback.headers


# -- Host ------------------------------------------------------------------------------------------


async def statuses(client: httpx.AsyncClient, hosts: list[str]) -> dict[str, int]:
    """The status of `GET /api/health` sent with each Host header."""
    return {
        host: (await client.get("/api/health", headers={"Host": host})).status_code
        for host in hosts
    }


async def test_a_loopback_server_answers_to_its_loopback_names_on_any_port(
    settings: Settings,
) -> None:
    hosts = ["localhost:8080", "127.0.0.1:8080", "[::1]:8080", "LocalHost", "127.0.0.1:3000"]
    async with client_for(settings) as client:
        answered = await statuses(client, hosts)

    assert answered == dict.fromkeys(hosts, 200)


async def test_dns_rebinding_against_a_loopback_server_is_refused(settings: Settings) -> None:
    """The attack: a page on http://rebind.attacker.example:8080 has its name re-resolved to
    127.0.0.1, so its same-origin requests reach the local server with its own name as Host."""
    attacker = {"Host": "rebind.attacker.example:8080", "Content-Type": "application/json"}
    async with client_for(settings) as client:
        queued = await client.post(
            "/api/generate", json={"videoSubject": "Pwned", "script": SCRIPT}, headers=attacker
        )
        listed = await client.get("/api/jobs", headers=attacker)
        jobs = await client.get("/api/jobs")

    assert queued.status_code == 400
    assert queued.json() == {
        "status": "error",
        "message": "Host 'rebind.attacker.example:8080' is not a name this server answers to; "
        "MONEYPRINTER_ALLOWED_HOSTS lists the accepted ones.",
    }
    assert listed.status_code == 400
    assert jobs.json()["total"] == 0


async def test_a_wildcard_server_answers_to_any_address_and_loopback_names_only(
    settings: Settings,
) -> None:
    accepted = ["localhost:8080", "127.0.0.1:8080", "172.18.0.3:8080", "[fd00::5]:8080"]
    refused = ["api:8080", "mp.example.org", "rebind.attacker.example"]
    async with client_for(settings, host="0.0.0.0") as client:
        answered = await statuses(client, accepted + refused)

    assert answered == {**dict.fromkeys(accepted, 200), **dict.fromkeys(refused, 400)}


async def test_a_server_on_one_address_answers_to_it_and_loopback_names(
    settings: Settings,
) -> None:
    accepted = ["192.168.1.20:8080", "localhost"]
    refused = ["192.168.1.21:8080", "box.lan:8080"]
    async with client_for(settings, host="192.168.1.20") as client:
        answered = await statuses(client, accepted + refused)

    assert answered == {**dict.fromkeys(accepted, 200), **dict.fromkeys(refused, 400)}


async def test_allowed_hosts_replace_the_defaults_but_keep_loopback(settings: Settings) -> None:
    accepted = ["mp.example.org", "MP.example.org:443", "127.0.0.1:8080", "[fd00::1]"]
    refused = ["172.18.0.3:8080", "other.example.org", "example.org"]
    listed = ["mp.example.org", "fd00::1"]
    async with client_for(settings, host="0.0.0.0", allowed_hosts=listed) as client:
        answered = await statuses(client, accepted + refused)

    assert answered == {**dict.fromkeys(accepted, 200), **dict.fromkeys(refused, 400)}


async def test_allowed_hosts_star_answers_to_any_host(settings: Settings) -> None:
    hosts = ["anything.example", "10.1.2.3:99"]
    async with client_for(settings, allowed_hosts=["*"]) as client:
        answered = await statuses(client, hosts)

    assert answered == dict.fromkeys(hosts, 200)


@pytest.mark.parametrize("host", ["", "local host", "localhost:http", "[::1", "a/b"])
async def test_a_malformed_host_header_is_refused(settings: Settings, host: str) -> None:
    async with client_for(settings) as client:
        response = await client.get("/api/health", headers={"Host": host})

    assert response.status_code == 400
    assert response.json()["status"] == "error"


async def test_the_test_clients_host_is_allowed_by_the_shared_settings(
    client: httpx.AsyncClient,
) -> None:
    assert (await client.get("/api/health")).status_code == 200


# -- Cross-site writes ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "origin", ["https://evil.example", "null", "http://localhost.evil.example"]
)
async def test_a_page_of_another_site_cannot_upload_songs_or_queue_jobs(
    settings: Settings, mp3: bytes, origin: str
) -> None:
    """A multipart POST is a simple request: a browser sends it cross-site with no preflight, and
    nothing else stops a page on any site from writing to a keyless server on its visitor's
    machine."""
    files = [("songs", ("attack.mp3", mp3, "audio/mpeg"))]
    async with client_for(settings) as client:
        upload = await client.post("/api/upload-songs", files=files, headers={"Origin": origin})
        form = await client.post(
            "/api/generate",
            content=b"videoSubject=attack",
            headers={"Origin": origin, "Content-Type": "application/x-www-form-urlencoded"},
        )
        songs = (await client.get("/api/songs")).json()["songs"]
        jobs = (await client.get("/api/jobs")).json()["total"]

    for response in (upload, form):
        assert response.status_code == 403
        assert response.json()["message"] == (
            f"A page at {origin!r} may not send this server writes; "
            "MONEYPRINTER_CORS_ORIGINS lists the origins that may."
        )
    assert songs == [] and jobs == 0


@pytest.mark.parametrize(
    ("origin", "base_url"),
    [
        (PAGE, SERVER),  # the original page on another loopback port: CORS lets it in
        ("http://localhost:8080", SERVER),  # our own page, served by the server itself
        (None, SERVER),  # curl, scripts
    ],
)
async def test_writes_from_pages_the_server_lets_in_go_through(
    settings: Settings, mp3: bytes, origin: str | None, base_url: str
) -> None:
    headers = {"Origin": origin} if origin else {}
    files = [("songs", ("song.mp3", mp3, "audio/mpeg"))]
    async with client_for(settings, base_url=base_url) as client:
        upload = await client.post("/api/upload-songs", files=files, headers=headers)

    assert upload.status_code == 200, upload.text


async def test_configured_origins_decide_who_may_write(settings: Settings) -> None:
    async with client_for(settings, cors_origins=["https://studio.example.org"]) as client:
        studio = await client.post(
            "/api/generate",
            json={"videoSubject": "tides", "script": SCRIPT},
            headers={"Origin": "https://studio.example.org"},
        )
        loopback_page = await client.post(
            "/api/generate",
            json={"videoSubject": "tides", "script": SCRIPT},
            headers={"Origin": PAGE},
        )

    assert studio.status_code == 200
    assert loopback_page.status_code == 403
