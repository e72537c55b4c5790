"""More of the web app in Chromium against the real server: the create form by keyboard alone
(with a visible focus ring), retrying a cancelled job, dropping files on the music page, a voice's
sample, the last choices remembered, and the job page on a phone (saved as screenshots under
test-artifacts/screenshots/)."""

from __future__ import annotations

import base64
import re
from pathlib import Path
from urllib.parse import quote

import pytest
from conftest import (
    JOB_TIMEOUT_MS,
    JOB_URL,
    PHONE,
    Server,
    queue_job,
    screenshot,
)
from playwright.sync_api import Browser, Page, expect

MAX_TABS = 60


def focused_matches(page: Page, selector: str) -> bool:
    return bool(
        page.evaluate(
            "selector => !!document.activeElement && document.activeElement.matches(selector)",
            selector,
        )
    )


def tab_to(page: Page, selector: str, key: str = "Tab") -> None:
    """Press Tab (or Shift+Tab) until the focused element matches the selector."""
    for _ in range(MAX_TABS):
        page.keyboard.press(key)
        if focused_matches(page, selector):
            return
    active = page.evaluate("() => document.activeElement?.outerHTML.slice(0, 200)")
    raise AssertionError(f"{key} never reached {selector!r}; focus is on {active}")


def focus_ring(page: Page) -> dict[str, str]:
    """The focused element's focus styles, as computed."""
    return page.evaluate(
        """() => {
            const element = document.activeElement;
            const style = getComputedStyle(element);
            return {
                focusVisible: String(element.matches(':focus-visible')),
                outlineStyle: style.outlineStyle,
                outlineWidth: style.outlineWidth,
                boxShadow: style.boxShadow,
            };
        }"""
    )


def assert_visible_focus(page: Page) -> None:
    ring = focus_ring(page)
    assert ring["focusVisible"] == "true", ring
    outlined = ring["outlineStyle"] != "none" and ring["outlineWidth"] not in ("0px", "")
    shadowed = ring["boxShadow"] not in ("none", "")
    assert outlined or shadowed, f"no visible focus style: {ring}"


def test_create_a_video_by_keyboard_alone(server: Server, page: Page) -> None:
    page.goto(server.base_url + "/")
    expect(page.get_by_role("heading", name="Create a video")).to_be_visible()
    # Everything that changes the tab order has loaded: the models' answer and the voices.
    expect(page.get_by_text("AI models unavailable")).to_be_visible()
    expect(page.locator("#field-voice")).to_be_enabled()
    # The app moves focus to the page's heading; the fields follow it.
    expect(page.get_by_role("heading", name="Create a video")).to_be_focused()

    tab_to(page, "#field-subject")
    page.keyboard.type("Keyboard octopuses")
    tab_to(page, "#field-script")
    page.keyboard.type("Octopuses have three hearts and blue blood.")
    page.keyboard.press("Shift+Tab")  # back to the subject, which kept its text
    assert focused_matches(page, "#field-subject")
    expect(page.locator("#field-subject")).to_have_value("Keyboard octopuses")
    expect(page.locator("#field-script")).to_have_value(
        "Octopuses have three hearts and blue blood."
    )

    # The sample button is a button in the tab order, with a visible focus ring.
    tab_to(page, "button[aria-label='Play a sample of the voice']")
    assert_visible_focus(page)

    # A radio group is one tab stop (the checked option); the arrow keys choose within it.
    tab_to(page, "input[name=quality]")
    assert focused_matches(page, "input[name=quality][value=standard]")
    page.keyboard.press("ArrowLeft")
    expect(page.locator("input[name=quality][value=draft]")).to_be_checked()
    assert focused_matches(page, "input[name=quality][value=draft]")
    outline = page.evaluate(
        "() => getComputedStyle(document.activeElement.nextElementSibling).outlineStyle"
    )
    assert outline != "none", "the focused quality pill shows no focus ring"

    tab_to(page, "button[type=submit]")
    expect(page.get_by_role("button", name="Create video")).to_be_focused()
    assert_visible_focus(page)
    page.keyboard.press("Enter")

    expect(page).to_have_url(JOB_URL)
    match = JOB_URL.search(page.url)
    assert match is not None
    expect(page.get_by_role("heading", name="Keyboard octopuses")).to_be_visible()
    expect(page.get_by_test_id("job-state")).to_have_text(re.compile("queued|running|completed"))
    with server.api() as client:
        job = client.get(f"/api/jobs/{match.group(1)}").json()["job"]
    assert job["videoSubject"] == "Keyboard octopuses"
    assert job["payload"]["quality"] == "draft", job["payload"]
    assert job["payload"]["script"] == "Octopuses have three hearts and blue blood."


def test_retry_a_cancelled_job_runs_it_to_the_end(server: Server, page: Page) -> None:
    job_id = queue_job(server, "Nautilus to retry")
    page.goto(f"{server.base_url}/#/jobs/{job_id}")
    state = page.get_by_test_id("job-state")
    expect(state).to_have_text(re.compile("queued|running"), timeout=JOB_TIMEOUT_MS)
    retry = page.get_by_role("button", name="Retry")
    expect(retry).to_be_disabled()  # nothing to retry while it runs

    page.get_by_role("button", name="Cancel").click()
    expect(state).to_have_text("cancelled", timeout=JOB_TIMEOUT_MS)
    expect(retry).to_be_enabled()

    retry.click()
    expect(page.get_by_role("status").filter(has_text="Job requeued.")).to_be_visible()
    # Runs again: the bars start over, and the page follows it live to the end.
    expect(state).to_have_text(re.compile("queued|running"))
    expect(page.get_by_role("button", name="Cancel")).to_be_enabled()
    expect(retry).to_be_disabled()
    expect(state).to_have_text("completed", timeout=JOB_TIMEOUT_MS)
    expect(page.get_by_test_id("overall-percent")).to_have_text("100%")
    for stage in ("script", "voice", "terms", "footage", "subtitles", "render", "metadata", "qa"):
        expect(page.locator(f"[data-stage={stage}] .stage-percent")).to_have_text("100%")
    expect(page.get_by_test_id("video")).to_be_visible()
    expect(page.get_by_text("Finished.")).to_be_visible()
    expect(page.get_by_test_id("event-log")).to_contain_text("Job completed")
    with server.api() as client:
        job = client.get(f"/api/jobs/{job_id}").json()["job"]
    assert job["state"] == "completed", job


@pytest.fixture
def mp3_bytes(tiny_mp3: Path) -> bytes:
    return tiny_mp3.read_bytes()


DRAG_JS = """({ name, type, data, events }) => {
    if (data !== null) {
        const bytes = Uint8Array.from(atob(data), (char) => char.charCodeAt(0));
        window.__drop = new DataTransfer();
        window.__drop.items.add(new File([bytes], name, { type }));
    }
    const zone = document.querySelector('[data-testid=dropzone]');
    for (const kind of events) {
        zone.dispatchEvent(
            new DragEvent(kind, { bubbles: true, cancelable: true, dataTransfer: window.__drop })
        );
    }
}"""


def drag(page: Page, name: str, type_: str, data: bytes | None, events: list[str]) -> None:
    encoded = None if data is None else base64.b64encode(data).decode("ascii")
    page.evaluate(DRAG_JS, {"name": name, "type": type_, "data": encoded, "events": events})


def test_drop_songs_on_the_music_page(server: Server, page: Page, mp3_bytes: bytes) -> None:
    page.goto(f"{server.base_url}/#/music")
    expect(page.get_by_text("No songs yet.")).to_be_visible()
    zone = page.get_by_test_id("dropzone")

    drag(page, "Dropped Tone.mp3", "audio/mpeg", mp3_bytes, ["dragenter", "dragover"])
    expect(zone).to_have_class(re.compile(r"\bdragging\b"))  # the zone shows it will take it
    drag(page, "Dropped Tone.mp3", "audio/mpeg", None, ["drop"])
    expect(zone).not_to_have_class(re.compile(r"\bdragging\b"))

    uploads = page.get_by_test_id("uploads")
    expect(uploads.locator(".upload-done")).to_contain_text("Dropped Tone.mp3: Stored as")
    songs = page.get_by_test_id("songs").locator("li")
    expect(songs).to_have_count(1)
    name = songs.first.locator(".song-name").inner_text()
    assert re.fullmatch(r"dropped-tone-[0-9a-f]+\.mp3", name), name
    expect(uploads.locator(".upload-done")).to_contain_text(name)
    with server.api() as client:
        listed = client.get("/api/songs").json()["songs"]
        assert [song["name"] for song in listed] == [name]
        # Stored re-muxed: the same frames, without the tag in front of them.
        served = client.get(f"/api/songs/{quote(name)}").content
        assert mp3_bytes.startswith(b"ID3") and served[:2] == b"\xff\xfb"

    # A file that is not an MP3 gets its own message, and the library stays as it was.
    drag(page, "lyrics.txt", "text/plain", b"La la la, not an MP3 at all.\n" * 20,
         ["dragenter", "dragover", "drop"])  # fmt: skip
    failed = uploads.locator(".upload-failed")
    expect(failed).to_have_count(1)
    expect(failed).to_have_text(
        "lyrics.txt: Skipped: not an MP3 file (an MP3 starts with an ID3 tag or an MPEG audio"
        " frame)."
    )
    expect(uploads.locator(".upload-done")).to_have_count(1)
    expect(songs).to_have_count(1)
    screenshot(page, "music-dropped")


RECORD_PLAYED_MEDIA = """
window.__played = [];
const originalPlay = HTMLMediaElement.prototype.play;
HTMLMediaElement.prototype.play = function (...args) {
    window.__played.push(this);
    return originalPlay.apply(this, args);
};
"""


def test_a_voice_sample_plays(server: Server, page: Page) -> None:
    # The sample plays from an Audio object that never joins the document: note each played one.
    page.add_init_script(RECORD_PLAYED_MEDIA)
    with server.api() as client:
        voices = client.get("/api/voices").json()
    voice_id = voices["default"]
    assert voice_id, voices

    page.goto(server.base_url + "/")
    voice = page.locator("#field-voice")
    expect(voice).to_be_enabled()
    voice.select_option(voice_id)

    sample_url = f"{server.base_url}/api/voices/{quote(voice_id)}/sample"
    # The first request synthesises the sample (a Piper voice takes a moment to load).
    with page.expect_response(lambda response: response.url == sample_url, timeout=60_000) as got:
        page.get_by_role("button", name="Play a sample of the voice").click()
    response = got.value
    assert response.status == 200, response.text()
    assert response.headers["content-type"].startswith("audio/"), response.headers

    stop = page.get_by_role("button", name="Stop the voice sample")
    expect(stop).to_have_text("■ Stop")
    page.wait_for_function(
        """() => window.__played.some(
            (audio) => !audio.paused && audio.duration > 1 && audio.currentTime > 0.2
        )"""
    )
    duration = page.evaluate("() => window.__played.at(-1).duration")
    assert 1 < duration < 30, duration
    expect(page.get_by_text("Voice sample:")).to_have_count(0)  # no error shown

    stop.click()
    page.wait_for_function("() => window.__played.at(-1).paused")
    expect(page.get_by_role("button", name="Play a sample of the voice")).to_have_text("▶ Sample")


def test_the_job_page_on_a_phone(server: Server, browser: Browser) -> None:
    job_id = queue_job(server, "Cuttlefish on a phone")
    phone = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    try:
        page = phone.new_page()
        page.set_default_timeout(15_000)
        page.goto(f"{server.base_url}/#/jobs/{job_id}")
        state = page.get_by_test_id("job-state")
        expect(state).to_have_text("running", timeout=JOB_TIMEOUT_MS)
        page.wait_for_function(
            "() => parseInt(document.querySelector('[data-testid=overall-percent]').textContent)"
            " > 5",
            timeout=JOB_TIMEOUT_MS,
        )
        assert_fits_the_phone(page)
        screenshot(page, "job-running-phone")

        expect(state).to_have_text("completed", timeout=JOB_TIMEOUT_MS)
        expect(page.get_by_test_id("overall-percent")).to_have_text("100%")
        expect(page.get_by_role("button", name="Copy title")).to_be_visible()
        thumbnail = page.get_by_role("img", name="Thumbnail")
        thumbnail.scroll_into_view_if_needed()  # it loads lazily
        page.wait_for_function(
            "() => { const image = document.querySelector('.thumbnail img');"
            " return image && image.complete && image.naturalWidth > 0; }"
        )
        page.wait_for_function("() => document.querySelector('video').readyState >= 1")
        page.evaluate("() => window.scrollTo(0, 0)")
        assert_fits_the_phone(page)
        screenshot(page, "job-done-phone")
    finally:
        phone.close()


def assert_fits_the_phone(page: Page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the page scrolls sideways on a phone ({width} px)"


def test_the_last_choices_are_remembered(server: Server, page: Page) -> None:
    page.goto(f"{server.base_url}/#/")
    page.get_by_label("Subject").fill("Tides")
    page.get_by_label("Own script (optional)").fill("The moon pulls the sea. Twice a day it turns.")
    page.get_by_label("Vertical position").select_option("top")
    page.get_by_label("Highlight the spoken word").check()
    page.locator("#field-color").fill("#00ffcc")
    page.get_by_text("Advanced").click()
    page.get_by_label("Priority").fill("7")
    page.get_by_text("draft", exact=False).first.click()
    page.get_by_role("button", name="Create video").click()
    expect(page).to_have_url(JOB_URL)
    match = JOB_URL.search(page.url)
    assert match, page.url
    job_id = match.group(1)

    page.goto(f"{server.base_url}/#/")
    page.reload()

    # The choices come back; the subject and script are the last video's, not a preference.
    expect(page.get_by_label("Vertical position")).to_have_value("top")
    expect(page.get_by_label("Highlight the spoken word")).to_be_checked()
    expect(page.locator("#field-color")).to_have_value("#00ffcc")
    expect(page.get_by_label("Priority")).to_have_value("7")
    expect(page.get_by_label("Subject")).to_have_value("")
    expect(page.get_by_label("Own script (optional)")).to_have_value("")
    with server.api() as client:
        payload = client.get(f"/api/jobs/{job_id}").json()["job"]["payload"]
    assert payload["subtitlesPosition"] == "center,top"
    assert payload["wordHighlight"] is True
    assert payload["color"].upper() == "#00FFCC"
    assert payload["quality"] == "draft"
