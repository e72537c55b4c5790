"""The web app in Chromium against the real server: create a draft video and follow it to the
end (through a reload), watch it play; cancel a job; upload a song; the history and status
pages. Each page is saved as a screenshot under test-artifacts/screenshots/."""

from __future__ import annotations

import re
from pathlib import Path

from conftest import (
    JOB_TIMEOUT_MS,
    JOB_URL,
    LONG_SCRIPT,
    PHONE,
    Server,
    percent,
    queue_job,
    screenshot,
)
from playwright.sync_api import Browser, Page, expect


def test_create_follow_through_a_reload_and_watch(
    server: Server, page: Page, browser: Browser
) -> None:
    page.goto(server.base_url + "/")
    expect(page.get_by_role("heading", name="Create a video")).to_be_visible()
    # The LLM is unreachable: the page says why and still offers the default model.
    expect(page.get_by_text("AI models unavailable")).to_be_visible()
    expect(page.locator("#field-voice")).to_be_enabled()  # the voices have loaded
    screenshot(page, "create")

    phone = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    try:
        phone_page = phone.new_page()
        phone_page.goto(server.base_url + "/")
        expect(phone_page.get_by_role("heading", name="Create a video")).to_be_visible()
        expect(phone_page.get_by_text("AI models unavailable")).to_be_visible()
        expect(phone_page.locator("#field-voice")).to_be_enabled()
        width = phone_page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], f"the page scrolls sideways on a phone ({width} px)"
        screenshot(phone_page, "create-phone")
    finally:
        phone.close()

    page.get_by_label("Subject").fill("Octopuses")
    page.get_by_label("Own script (optional)").fill(LONG_SCRIPT)
    page.locator("label.pill", has_text="draft").click()
    page.get_by_role("button", name="Create video").click()
    expect(page).to_have_url(JOB_URL)

    state = page.get_by_test_id("job-state")
    expect(state).to_have_text("running", timeout=JOB_TIMEOUT_MS)
    page.wait_for_function(
        "() => parseInt(document.querySelector('[data-testid=overall-percent]').textContent) > 5",
        timeout=JOB_TIMEOUT_MS,
    )
    screenshot(page, "job-running")

    before = percent(page)
    logged = page.get_by_test_id("event-log").locator("li").count()
    page.reload()
    # Everything comes back from the API: the log so far, and progress no lower than before.
    page.wait_for_function(
        f"() => document.querySelectorAll('[data-testid=event-log] li').length >= {logged}"
    )
    assert percent(page) >= before
    expect(state).to_have_text(re.compile("running|completed"))

    expect(state).to_have_text("completed", timeout=JOB_TIMEOUT_MS)
    expect(page.get_by_test_id("overall-percent")).to_have_text("100%")
    for stage in ("script", "voice", "terms", "footage", "subtitles", "render", "metadata", "qa"):
        expect(page.locator(f"[data-stage={stage}] .stage-percent")).to_have_text("100%")

    video = page.get_by_test_id("video")
    expect(video).to_be_visible()
    page.evaluate(
        "async () => { const v = document.querySelector('video'); v.muted = true; await v.play(); }"
    )
    page.wait_for_function("() => document.querySelector('video').currentTime > 0.3")
    expect(page.get_by_role("button", name="Copy title")).to_be_visible()
    expect(page.get_by_role("img", name="Thumbnail")).to_be_visible()
    downloads = page.locator(".downloads a")
    expect(downloads.filter(has_text="video:")).to_have_count(1)
    expect(downloads.filter(has_text="metadata:")).to_have_count(1)
    expect(page.get_by_test_id("qa")).to_contain_text("All 10 checks passed.")
    expect(page.get_by_test_id("qa")).to_contain_text("faststart index first")
    # No stock keys here: every scene's footage is a generated background, and says so.
    expect(page.get_by_test_id("footage").locator("li").first).to_have_text(
        "a generated background"
    )
    screenshot(page, "job-done")


def test_cancel_a_running_job_then_find_it_in_history(server: Server, page: Page) -> None:
    job_id = queue_job(server, "Jellyfish to cancel")
    queue_job(server, "Seahorses", script="Seahorse fathers carry the young.")
    page.goto(f"{server.base_url}/#/jobs/{job_id}")
    state = page.get_by_test_id("job-state")
    expect(state).to_have_text("running", timeout=JOB_TIMEOUT_MS)

    page.get_by_role("button", name="Cancel").click()
    expect(page.get_by_role("status").filter(has_text="Cancellation requested.")).to_be_visible()
    expect(state).to_have_text("cancelled", timeout=JOB_TIMEOUT_MS)
    expect(page.get_by_role("button", name="Retry")).to_be_enabled()
    expect(page.get_by_role("button", name="Cancel")).to_be_disabled()

    page.goto(f"{server.base_url}/#/history")
    rows = page.locator("table.jobs tbody tr")
    expect(rows).to_have_count(2)
    page.get_by_label("State").select_option("cancelled")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Jellyfish to cancel")
    page.get_by_label("State").select_option("")
    page.get_by_label("Subject contains").fill("SEAHORSE")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Seahorses")
    page.get_by_label("Subject contains").fill("")
    expect(rows).to_have_count(2)
    screenshot(page, "history")


def test_upload_play_and_delete_a_song(server: Server, page: Page, tiny_mp3: Path) -> None:
    not_mp3 = tiny_mp3.with_name("notes.mp3")
    not_mp3.write_text("these are not MPEG frames " * 40)
    page.goto(f"{server.base_url}/#/music")
    expect(page.get_by_text("No songs yet.")).to_be_visible()

    page.locator("#song-files").set_input_files([str(tiny_mp3), str(not_mp3)])
    uploads = page.get_by_test_id("uploads")
    expect(uploads.locator(".upload-done")).to_contain_text("Sine Tone.mp3: Stored as")
    # Each file has its own answer: the bad one shows the API's message, the good one is stored.
    expect(uploads.locator(".upload-failed")).to_contain_text("notes.mp3")
    failed_message = uploads.locator(".upload-failed").inner_text()
    assert "Uploading" not in failed_message and "HTTP" not in failed_message, failed_message

    songs = page.get_by_test_id("songs").locator("li")
    expect(songs).to_have_count(1)
    name = songs.first.locator(".song-name").inner_text()
    assert name.endswith(".mp3")
    duration = page.evaluate(
        """async () => {
            const audio = document.querySelector('.songs audio');
            audio.muted = true;
            await audio.play();
            return audio.duration;
        }"""
    )
    assert duration > 1.5
    screenshot(page, "music")

    # The song is offered on the create page.
    page.goto(f"{server.base_url}/#/")
    page.get_by_label("Add background music").check()
    expect(page.get_by_label("Song")).to_contain_text(name)

    page.goto(f"{server.base_url}/#/music")
    page.get_by_role("button", name=f"Delete {name}").click()
    page.get_by_role("button", name=f"Delete {name}").click()  # confirm
    expect(page.get_by_text(f"Deleted {name}.")).to_be_visible()
    expect(page.get_by_text("No songs yet.")).to_be_visible()


def test_status_shows_the_queue_and_the_worker(server: Server, page: Page) -> None:
    queue_job(server, "Starfish", script="Starfish have no blood.")
    page.goto(f"{server.base_url}/#/status")
    expect(page.get_by_role("heading", name="Status")).to_be_visible()
    expect(page.get_by_test_id("slots")).to_have_text(re.compile(r"[01] of 1"))
    counts = page.get_by_test_id("job-counts")
    expect(counts).to_contain_text("completed")
    expect(page.locator("table code")).to_have_count(1)  # the one worker of `serve`
    # The page refreshes itself: the job's completion shows without a reload.
    expect(counts.locator(".state-completed dd")).to_have_text("1", timeout=JOB_TIMEOUT_MS)
    expect(page.get_by_test_id("recent")).to_contain_text("Completed")
    screenshot(page, "status")


def test_job_page_falls_back_to_polling_when_the_stream_fails(server: Server, page: Page) -> None:
    # A proxy that refuses event streams: EventSource gives up, the page polls instead.
    page.route("**/stream*", lambda route: route.fulfill(status=503, body="no streams here"))
    job_id = queue_job(server, "Sea otters", script="Sea otters hold hands while they sleep.")
    page.goto(f"{server.base_url}/#/jobs/{job_id}")
    expect(page.get_by_text("Live updates by polling.")).to_be_visible()
    expect(page.get_by_test_id("job-state")).to_have_text("completed", timeout=JOB_TIMEOUT_MS)
    expect(page.get_by_test_id("overall-percent")).to_have_text("100%")
    expect(page.get_by_test_id("event-log")).to_contain_text("Job completed")
