"""YouTube from the web app in Chromium against the real server and a loopback Google: connect a
channel through Google's consent page and back, create a draft video, publish it from its job
page and follow the upload to its YouTube link, then disconnect the channel; and a video the
create form asks to publish once done (saved as screenshots under test-artifacts/screenshots/)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import JOB_TIMEOUT_MS, JOB_URL, Server, screenshot
from playwright.sync_api import Page, expect

from app.crypto import new_key
from tests.fakes.google import Google, google_server

SCRIPT = "Octopuses have three hearts and blue blood."
YOUTUBE_LINK = re.compile(r"^https://youtu\.be/[\w-]+$")


@pytest.fixture
def google() -> Iterator[Google]:
    with google_server() as fake:
        yield fake


@pytest.fixture
def server_env(google: Google, tmp_path: Path) -> dict[str, str]:
    """The server's OAuth client and YouTube API are the fake's, with YouTube's smallest upload
    chunks."""
    # The server's port is not known yet; the fake Google does not check the redirect URIs.
    secrets_file = google.write_client_secrets(
        tmp_path / "client_secret.json",
        redirect_uris=("http://127.0.0.1/api/accounts/oauth/callback",),
    )
    return {
        "MONEYPRINTER_YOUTUBE_CLIENT_SECRETS": str(secrets_file),
        "MONEYPRINTER_SECRET_KEY": new_key(),
        "MONEYPRINTER_YOUTUBE_API_URL": google.url,
        "MONEYPRINTER_YOUTUBE_CHUNK_BYTES": str(256 * 1024),
    }


def connect_channel(page: Page, server: Server, google: Google) -> None:
    """Connect the fake's channel from the Accounts page, as a user does."""
    page.goto(server.base_url + "/")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Accounts").click()
    expect(page.get_by_role("heading", name="Accounts")).to_be_visible()
    expect(page.get_by_text("No YouTube account connected yet.")).to_be_visible()

    # Google's consent page, then back through the server's callback to the Accounts page.
    page.get_by_role("button", name="Connect YouTube").click()
    expect(page.get_by_role("heading", name="Sign in with Google")).to_be_visible()
    assert page.url.startswith(f"{google.url}/o/oauth2/v2/auth?")
    page.get_by_role("button", name="Allow").click()
    expect(page).to_have_url(re.compile(r"/#/accounts\?connected=\d+$"))
    expect(page.get_by_role("status").filter(has_text="Connected Test Channel.")).to_be_visible()
    accounts = page.get_by_test_id("accounts").locator("li")
    expect(accounts).to_have_count(1)
    expect(accounts.first).to_contain_text("Test Channel")
    expect(accounts.first).to_contain_text("UC_test_channel")
    expect(accounts.first).to_contain_text("connected")


def create_draft(page: Page, server: Server, subject: str, *, publish: bool = False) -> str:
    """Create a draft video from the create form; its job's id, its page open."""
    page.goto(server.base_url + "/#/")
    page.get_by_label("Subject").fill(subject)
    page.get_by_label("Own script (optional)").fill(SCRIPT)
    page.locator("label.pill", has_text="draft").click()
    if publish:
        expect(page.get_by_label("Privacy")).to_have_count(0)  # shown once asked for
        page.get_by_label("Publish to YouTube when done").check()
        expect(page.get_by_label("Privacy")).to_have_value("private")
        page.get_by_label("Privacy").select_option("public")
    page.get_by_role("button", name="Create video").click()
    expect(page).to_have_url(JOB_URL)
    match = JOB_URL.search(page.url)
    assert match is not None
    return match[1]


def test_connect_a_channel_publish_a_video_and_disconnect(
    server: Server, page: Page, google: Google
) -> None:
    connect_channel(page, server, google)
    screenshot(page, "accounts")

    video_job_id = create_draft(page, server, "Octopus hearts")
    expect(page.get_by_test_id("job-state")).to_have_text("completed", timeout=JOB_TIMEOUT_MS)
    expect(page.get_by_test_id("publications")).to_have_count(0)

    # The privacy is the server's default (private) unless chosen.
    expect(page.get_by_label("Privacy")).to_have_value("private")
    page.get_by_label("Privacy").select_option("unlisted")
    screenshot(page, "job-publish")
    page.get_by_role("button", name="Publish to YouTube").click()
    expect(page).to_have_url(JOB_URL)
    expect(page).not_to_have_url(re.compile(video_job_id))
    expect(page.get_by_role("heading", name="YouTube upload")).to_be_visible()
    link = page.get_by_test_id("publications").locator('a[href^="https://youtu.be/"]')
    expect(link).to_be_visible(timeout=JOB_TIMEOUT_MS)
    expect(link).to_have_text(YOUTUBE_LINK)
    expect(link).to_have_attribute("target", "_blank")
    expect(link).to_have_attribute("rel", "noopener")
    expect(page.get_by_test_id("job-state")).to_have_text("completed")
    screenshot(page, "publish-done")

    with google.lock:
        videos = list(google.videos.values())
    assert len(videos) == 1
    (video,) = videos
    assert link.get_attribute("href") == f"https://youtu.be/{video.id}"
    assert video.status["privacyStatus"] == "unlisted"
    with server.api() as client:
        response = client.get(f"/api/jobs/{video_job_id}/video")
    assert response.status_code == 200
    assert video.body == response.content

    # The video job's page lists the upload with its link.
    page.get_by_role("link", name="video", exact=True).click()
    expect(page).to_have_url(re.compile(f"#/jobs/{video_job_id}$"))
    expect(
        page.get_by_test_id("publications").get_by_role("link", name=f"https://youtu.be/{video.id}")
    ).to_be_visible()

    page.goto(server.base_url + "/#/accounts")
    page.get_by_role("button", name="Disconnect Test Channel").click()
    expect(page.get_by_role("button", name="Keep")).to_be_visible()  # it asks first
    page.get_by_role("button", name="Disconnect Test Channel").click()
    expect(page.get_by_role("status").filter(has_text="Account disconnected")).to_be_visible()
    expect(page.get_by_text("No YouTube account connected yet.")).to_be_visible()
    with google.lock:
        assert len(google.revoked) == 1


def test_the_create_form_publishes_the_video_once_done(
    server: Server, page: Page, google: Google
) -> None:
    connect_channel(page, server, google)
    video_job_id = create_draft(page, server, "Octopus hearts, public", publish=True)
    expect(page.get_by_test_id("job-state")).to_have_text("completed", timeout=JOB_TIMEOUT_MS)

    # The video job's page follows the upload its completion queued, to the video's link.
    link = page.get_by_test_id("publications").locator('a[href^="https://youtu.be/"]')
    expect(link).to_be_visible(timeout=JOB_TIMEOUT_MS)
    with google.lock:
        (video,) = google.videos.values()
    assert link.get_attribute("href") == f"https://youtu.be/{video.id}"
    assert video.status["privacyStatus"] == "public"
    with server.api() as client:
        assert video.body == client.get(f"/api/jobs/{video_job_id}/video").content
