"""A server with an API key: the page shows the API's refusal, then works once the key is saved
in the browser (sent as X-API-Key)."""

from __future__ import annotations

import re

import pytest
from conftest import Server
from playwright.sync_api import Page, expect

API_KEY = "browser-test-key"


@pytest.fixture
def server_env() -> dict[str, str]:
    return {"MONEYPRINTER_API_KEY": API_KEY}


def test_the_api_key_is_asked_for_and_sent(server: Server, page: Page) -> None:
    page.goto(server.base_url + "/")
    page.get_by_label("Subject").fill("Penguins")
    page.get_by_label("Own script (optional)").fill("Penguins propose with pebbles.")
    page.get_by_role("button", name="Create video").click()
    expect(page.get_by_role("alert")).to_contain_text("API key required")

    page.get_by_text("API key").first.click()
    page.get_by_label("Key (only if the server sets one)").fill("wrong")
    page.get_by_role("button", name="Save").click()
    page.get_by_role("button", name="Create video").click()
    expect(page.get_by_role("alert")).to_contain_text("Invalid API key.")

    page.get_by_label("Key (only if the server sets one)").fill(API_KEY)
    page.get_by_role("button", name="Save").click()
    page.get_by_role("button", name="Create video").click()
    expect(page).to_have_url(re.compile(r"#/jobs/[0-9a-f-]{36}$"))
    # Reading needs no key; the job page follows the job as usual.
    expect(page.get_by_test_id("job-state")).to_have_text(re.compile("queued|running|completed"))
