"""The job routes over the ASGI app, on SQLite and Postgres: success, 404 and bad input."""

from __future__ import annotations

import httpx
import pytest

SCRIPT = "Octopuses have three hearts. Each arm can taste what it touches."


async def queue(client: httpx.AsyncClient, **fields: object) -> str:
    body = {"videoSubject": "octopuses", "script": SCRIPT, **fields}
    response = await client.post("/api/generate", json=body)
    assert response.status_code == 200, response.text
    payload = response.json()
    assert payload["status"] == "success"
    assert payload["message"] == "Video generation queued."
    return str(payload["jobId"])


async def test_generate_queues_a_job_with_defaults(client: httpx.AsyncClient) -> None:
    job_id = await queue(client)

    response = await client.get(f"/api/jobs/{job_id}")

    assert response.status_code == 200
    job = response.json()["job"]
    assert job["id"] == job_id
    assert job["state"] == "queued"
    assert job["cancelRequested"] is False
    assert job["resultPath"] is None and job["errorMessage"] is None
    assert job["videoSubject"] == "octopuses"
    assert job["maxAttempts"] == 3
    payload = job["payload"]
    assert payload["customPrompt"] == ""
    assert payload["subtitlesPosition"] == "center,bottom"
    assert payload["paragraphNumber"] == 1
    assert payload["aspect"] == "9:16"


async def test_generate_accepts_numbers_and_booleans_as_strings(client: httpx.AsyncClient) -> None:
    job_id = await queue(
        client,
        paragraphNumber="3",
        threads="4",
        useMusic="true",
        musicVolume="0.25",
        color="red",
        subtitlesPosition="Left, Top",
    )

    payload = (await client.get(f"/api/jobs/{job_id}")).json()["job"]["payload"]

    assert payload["paragraphNumber"] == 3
    assert payload["threads"] == 4
    assert payload["useMusic"] is True
    assert payload["musicVolume"] == 0.25
    assert payload["color"] == "#FF0000"
    assert payload["subtitlesPosition"] == "left,top"


async def test_unknown_fields_are_not_stored(client: httpx.AsyncClient) -> None:
    job_id = await queue(client, evil="<script>", __proto__={"x": 1})

    payload = (await client.get(f"/api/jobs/{job_id}")).json()["job"]["payload"]

    assert "evil" not in payload and "__proto__" not in payload


@pytest.mark.parametrize(
    "body",
    [{}, {"videoSubject": ""}, {"videoSubject": "   "}, {"script": "text only"}],
)
async def test_missing_subject_is_refused_with_the_original_message(
    client: httpx.AsyncClient, body: dict[str, object]
) -> None:
    response = await client.post("/api/generate", json=body)

    assert response.status_code == 400
    assert response.json() == {"status": "error", "message": "videoSubject is required."}


@pytest.mark.parametrize(
    ("field", "value", "named"),
    [
        ("paragraphNumber", 101, "paragraphNumber"),
        ("paragraphNumber", "many", "paragraphNumber"),
        ("color", "blurple", "color"),
        ("subtitlesPosition", "middle,bottom", "subtitlesPosition"),
        ("subtitlesPosition", "center", "subtitlesPosition"),
        ("videoSubject", "x" * 501, "videoSubject"),
        ("aspect", "4:3", "aspect"),
        ("quality", "ultra", "quality"),
        ("musicVolume", 2, "musicVolume"),
        ("song", "../../etc/passwd", "song"),
        ("song", "missing.mp3", "song"),
        ("projectId", 99, "projectId"),
        ("projectId", 2**31, "projectId"),
        ("maxAttempts", 0, "maxAttempts"),
        ("language", "english!", "language"),
    ],
)
async def test_bad_fields_are_refused_naming_the_field(
    client: httpx.AsyncClient, field: str, value: object, named: str
) -> None:
    body = {"videoSubject": "octopuses", field: value}
    response = await client.post("/api/generate", json=body)

    assert response.status_code == 400, response.text
    payload = response.json()
    assert payload["status"] == "error"
    assert payload["message"].startswith(f"{named}:"), payload["message"]
    listed = (await client.get("/api/jobs")).json()
    assert listed["total"] == 0


async def test_body_that_is_not_json_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/generate", content=b"{not json", headers={"content-type": "application/json"}
    )

    assert response.status_code == 400
    assert response.json() == {"status": "error", "message": "Request body is not valid JSON."}


async def test_idempotency_key_returns_the_first_job(client: httpx.AsyncClient) -> None:
    body = {"videoSubject": "octopuses", "script": SCRIPT}
    headers = {"Idempotency-Key": "abc-123"}

    first = await client.post("/api/generate", json=body, headers=headers)
    second = await client.post("/api/generate", json=body, headers=headers)

    assert first.json()["jobId"] == second.json()["jobId"]
    assert (await client.get("/api/jobs")).json()["total"] == 1


async def test_unknown_job_is_404(client: httpx.AsyncClient) -> None:
    for path in ("/api/jobs/nope", "/api/jobs/nope/events", "/api/jobs/nope/stream"):
        response = await client.get(path)
        assert response.status_code == 404, path
        assert response.json() == {"status": "error", "message": "Job not found."}
    response = await client.post("/api/jobs/nope/cancel")
    assert response.status_code == 404
    assert response.json() == {"status": "error", "message": "Job not found."}


async def test_list_jobs_filters_and_pages(client: httpx.AsyncClient) -> None:
    ids = [await queue(client, videoSubject=f"subject {n}") for n in range(5)]
    await client.post(f"/api/jobs/{ids[0]}/cancel")

    page = (await client.get("/api/jobs", params={"limit": 2, "offset": 1})).json()
    queued = (await client.get("/api/jobs", params={"status": "queued"})).json()
    cancelled = (await client.get("/api/jobs", params={"status": "cancelled"})).json()

    assert page["total"] == 5 and page["limit"] == 2 and page["offset"] == 1
    assert [job["id"] for job in page["jobs"]] == [ids[3], ids[2]]  # newest first
    assert queued["total"] == 4
    assert [job["id"] for job in cancelled["jobs"]] == [ids[0]]


async def test_list_jobs_searches_the_subject_in_any_case(client: httpx.AsyncClient) -> None:
    octopus = await queue(client, videoSubject="The Octopus's three hearts")
    await queue(client, videoSubject="Deep sea squid")
    percent = await queue(client, videoSubject="100% of octopuses")
    await client.post(f"/api/jobs/{octopus}/cancel")

    def ids(page: httpx.Response) -> list[str]:
        assert page.status_code == 200, page.text
        return [job["id"] for job in page.json()["jobs"]]

    assert ids(await client.get("/api/jobs", params={"q": "OCTOPUS"})) == [percent, octopus]
    assert ids(await client.get("/api/jobs", params={"q": "octopus", "status": "cancelled"})) == [
        octopus
    ]
    # % and _ are the text itself, not wildcards.
    assert ids(await client.get("/api/jobs", params={"q": "100%"})) == [percent]
    assert ids(await client.get("/api/jobs", params={"q": "1_0"})) == []
    assert (await client.get("/api/jobs", params={"q": "squid"})).json()["total"] == 1


@pytest.mark.parametrize(
    "params",
    [{"status": "done"}, {"limit": 0}, {"limit": 101}, {"offset": -1}, {"limit": "x"}],
)
async def test_list_jobs_bad_query_is_refused(
    client: httpx.AsyncClient, params: dict[str, object]
) -> None:
    response = await client.get("/api/jobs", params=params)

    assert response.status_code == 400
    name = next(iter(params))
    assert response.json()["message"].startswith(f"query parameter {name}:")


async def test_cancel_queued_job_ends_it_at_once(client: httpx.AsyncClient) -> None:
    job_id = await queue(client)

    response = await client.post(f"/api/jobs/{job_id}/cancel")
    again = await client.post(f"/api/jobs/{job_id}/cancel")

    assert response.status_code == 200
    assert response.json() == {
        "status": "success",
        "message": "Cancellation requested.",
        "jobId": job_id,
        "state": "cancelled",
    }
    job = (await client.get(f"/api/jobs/{job_id}")).json()["job"]
    assert job["state"] == "cancelled" and job["completedAt"] is not None
    # An ended job is left as it is, and the answer says so (200, as the original answered).
    assert again.status_code == 200
    assert again.json() == {
        "status": "success",
        "message": "Job already cancelled; nothing to cancel.",
        "jobId": job_id,
        "state": "cancelled",
    }


async def test_cancel_active_takes_the_newest_queued_job(client: httpx.AsyncClient) -> None:
    older = await queue(client)
    newer = await queue(client)

    response = await client.post("/api/cancel")

    assert response.status_code == 200
    assert response.json()["jobId"] == newer
    assert (await client.get(f"/api/jobs/{older}")).json()["job"]["state"] == "queued"


async def test_cancel_active_without_jobs_is_404(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/cancel")

    assert response.status_code == 404
    assert response.json() == {"status": "error", "message": "No active job found."}


async def test_unknown_route_answers_in_the_envelope(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/nothing-here")

    assert response.status_code == 404
    assert response.json()["status"] == "error"


@pytest.mark.parametrize("field", ["videoSubject", "script", "customPrompt"])
async def test_nul_characters_are_refused(client: httpx.AsyncClient, field: str) -> None:
    body = {"videoSubject": "tides", field: "a\u0000b"}

    response = await client.post("/api/generate", json=body)

    assert response.status_code == 400
    assert response.json()["message"] == f"{field}: must not contain NUL characters"


async def test_ids_that_are_not_uuids_are_unknown_jobs(client: httpx.AsyncClient) -> None:
    for path in ("/api/jobs/a%00b", "/api/jobs/a%00b/events", "/api/jobs/%E2%98%83/stream"):
        response = await client.get(path)
        assert response.status_code == 404, path
        assert response.json()["message"] == "Job not found."


async def test_job_ids_are_case_insensitive(client: httpx.AsyncClient) -> None:
    job_id = await queue(client)

    response = await client.get(f"/api/jobs/{job_id.upper()}")

    assert response.status_code == 200 and response.json()["job"]["id"] == job_id


async def test_a_script_past_the_word_cap_is_refused_naming_the_cap(
    client: httpx.AsyncClient,
) -> None:
    script = "Octopuses have three hearts and blue blood. " * 215  # 7 words each

    response = await client.post(
        "/api/generate", json={"videoSubject": "octopuses", "script": script}
    )

    assert response.status_code == 400
    assert response.json()["message"] == (
        "script: 1,505 words; the most is 1,500 (about 10 minutes of narration, "
        "MONEYPRINTER_MAX_SCRIPT_WORDS)."
    )
