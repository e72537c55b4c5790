"""A server with an API key: the page shows the API's refusal, works once the key is saved in the
browser (sent as X-API-Key), and what the browser loads by address (the event stream, the video,
the thumbnail, downloads, songs) plays with URL tokens, never the key, in its address."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import pytest
from conftest import JOB_TIMEOUT_MS, JOB_URL, Server
from playwright.sync_api import Page, Response, expect

API_KEY = "browser-test-key"
KEYED = {"X-API-Key": API_KEY}
SAVE_KEY = f"localStorage.setItem('moneyprinter.apiKey', {json.dumps(API_KEY)})"


@pytest.fixture
def server_env() -> dict[str, str]:
    return {"MONEYPRINTER_API_KEY": API_KEY}


def record_responses(page: Page) -> list[Response]:
    responses: list[Response] = []
    page.on("response", lambda response: responses.append(response))
    return responses


def test_the_api_key_is_asked_for_and_sent(server: Server, page: Page) -> None:
    page.goto(server.base_url + "/")
    # Reads need the key too: the form's lists say so until it is saved.
    expect(page.get_by_role("alert").filter(has_text="API key required").first).to_be_visible()
    page.get_by_label("Subject").fill("Penguins")
    page.get_by_label("Own script (optional)").fill("Penguins propose with pebbles.")
    page.locator("label.pill", has_text="draft").click()
    page.get_by_role("button", name="Create video").click()
    expect(page.locator(".notice-error", has_text="API key required").last).to_be_visible()

    page.get_by_text("API key").first.click()
    page.get_by_label("Key (only if the server sets one)").fill("wrong")
    page.get_by_role("button", name="Save").click()
    page.get_by_role("button", name="Create video").click()
    expect(page.get_by_role("alert").filter(has_text="Invalid API key.").first).to_be_visible()

    page.get_by_label("Key (only if the server sets one)").fill(API_KEY)
    page.get_by_role("button", name="Save").click()
    # Saved: the lists the key was refused for load again, without a reload; only the answer
    # to the last click stays.
    expect(page.get_by_role("alert")).to_have_text(["Invalid API key."])
    responses = record_responses(page)
    page.get_by_role("button", name="Create video").click()
    expect(page).to_have_url(JOB_URL)

    state = page.get_by_test_id("job-state")
    expect(state).to_have_text("completed", timeout=JOB_TIMEOUT_MS)
    log = page.get_by_test_id("event-log")
    expect(log).to_contain_text("Job completed.")
    expect(page.get_by_text("Finished.")).to_be_visible()
    # The log came from the event stream, opened with a URL token and never by polling.
    streams = [r for r in responses if "/stream?" in r.url]
    assert streams and all(r.status == 200 and "token=" in r.url for r in streams), [
        (r.url, r.status) for r in streams
    ]
    assert not [r.url for r in responses if "/events?" in r.url]

    expect(page.get_by_test_id("video")).to_be_visible()
    page.evaluate(
        "async () => { const v = document.querySelector('video'); v.muted = true; await v.play(); }"
    )
    page.wait_for_function("() => document.querySelector('video').currentTime > 0.3")
    page.wait_for_function(
        "() => { const image = document.querySelector('.thumbnail img');"
        " return image && image.complete && image.naturalWidth > 0; }"
    )
    loaded = [r for r in responses if "/video?" in r.url or "/artifacts/" in r.url]
    assert loaded and all(r.status in (200, 206) for r in loaded), [
        (r.url, r.status) for r in loaded
    ]
    assert not [r.url for r in responses if API_KEY in r.url]  # the key never goes in an address

    link = page.locator(".downloads a", has_text="video:").get_attribute("href")
    assert link and "token=" in link
    download = httpx.get(server.base_url + link, timeout=10)
    assert download.status_code == 200 and download.headers["content-type"] == "video/mp4"
    assert httpx.get(server.base_url + link.split("?")[0], timeout=10).status_code == 401


def test_songs_play_with_the_key(server: Server, page: Page, tiny_mp3: Path) -> None:
    with server.api() as client:
        stored = client.post(
            "/api/upload-songs",
            headers=KEYED,
            files=[("songs", (tiny_mp3.name, tiny_mp3.read_bytes(), "audio/mpeg"))],
        )
    assert stored.status_code == 200, stored.text
    page.add_init_script(SAVE_KEY)
    responses = record_responses(page)

    page.goto(f"{server.base_url}/#/music")
    expect(page.get_by_test_id("songs").locator("li")).to_have_count(1)
    # The player appears once its address is signed; one shown earlier could never start.
    expect(page.locator(".songs audio")).to_have_count(1)
    played = page.evaluate(
        """async () => {
            const audio = document.querySelector('.songs audio');
            audio.muted = true;
            await audio.play();
            await new Promise((resolve) => setTimeout(resolve, 500));
            return { duration: audio.duration, at: audio.currentTime, src: audio.src };
        }"""
    )

    assert played["duration"] > 1.5 and played["at"] > 0, played
    assert re.search(r"/api/songs/[^?]+\.mp3\?token=", played["src"]), played
    songs = [r for r in responses if "/api/songs/" in r.url]
    assert songs and all(r.status in (200, 206) for r in songs), [(r.url, r.status) for r in songs]
