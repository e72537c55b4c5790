"""Batches in Chromium against the real server, on each database: a CSV file queued from the
Batches page runs to the end with every video linked; a list of subjects with no LLM fails
video by video, says why, and is retried; a bad row is named by its line before anything is
queued."""

from __future__ import annotations

import re
from pathlib import Path

from conftest import JOB_TIMEOUT_MS, Server, screenshot
from playwright.sync_api import Page, expect

BATCH_URL = re.compile(r"#/batches/([0-9a-f-]{36})$")


def write_csv(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_a_csv_batch_runs_to_the_end_and_links_every_video(
    page: Page, server: Server, tmp_path: Path
) -> None:
    csv = write_csv(
        tmp_path,
        "ocean.csv",
        "subject,script,quality\n"
        'Octopuses,"Octopuses have three hearts.",draft\n'
        'Whales,"Whales sing for hours, far apart.",draft\n'
        'Tides,"The Moon pulls the sea.",draft\n',
    )
    page.goto(f"{server.base_url}/#/batches")
    page.get_by_label("Title", exact=True).fill("Ocean week")
    page.get_by_label("CSV file", exact=True).set_input_files(str(csv))
    expect(page.get_by_test_id("batch-count")).to_have_text("3 video(s) in ocean.csv")
    page.get_by_role("button", name="Queue the batch").click()

    expect(page).to_have_url(BATCH_URL)
    expect(page.get_by_role("heading", name="Ocean week")).to_be_visible()
    expect(page.get_by_test_id("batch-state")).to_have_text("completed", timeout=JOB_TIMEOUT_MS)
    expect(page.get_by_test_id("batch-counts")).to_have_text("3 completed")
    expect(page.get_by_test_id("batch-percent")).to_have_text("100%")
    rows = page.get_by_test_id("batch-job")
    expect(rows).to_have_count(3)
    expect(rows.nth(1)).to_contain_text("Whales")
    screenshot(page, "batch-completed")

    rows.nth(1).get_by_role("link", name="Whales").click()
    expect(page.get_by_test_id("job-state")).to_have_text("completed")
    expect(page.locator("video")).to_be_visible()

    page.get_by_role("link", name="Batches", exact=True).click()
    listed = page.get_by_role("row").filter(has_text="Ocean week")
    expect(listed).to_contain_text("completed")
    expect(listed).to_contain_text("100%")


def test_subjects_without_an_llm_fail_each_with_the_reason_and_can_be_retried(
    page: Page, server: Server
) -> None:
    page.goto(f"{server.base_url}/#/batches")
    page.get_by_label("A list of subjects, one per line").check()
    page.get_by_label("Subjects", exact=True).fill("Octopuses\n\nWhales\n")
    page.get_by_role("button", name="Queue the batch").click()

    expect(page).to_have_url(BATCH_URL)
    expect(page.get_by_test_id("batch-state")).to_have_text("failed", timeout=JOB_TIMEOUT_MS)
    expect(page.get_by_test_id("batch-counts")).to_have_text("2 failed")
    rows = page.get_by_test_id("batch-job")
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text("could not connect to Ollama")  # no script, no LLM

    page.get_by_role("button", name="Retry failed and cancelled").click()
    expect(page.locator(".notice")).to_have_text("Requeued 2 job(s).")
    expect(page.get_by_test_id("batch-state")).to_have_text("failed", timeout=JOB_TIMEOUT_MS)


def test_a_bad_row_is_named_by_its_line_and_nothing_is_queued(
    page: Page, server: Server, tmp_path: Path
) -> None:
    csv = write_csv(
        tmp_path, "typo.csv", "subject,script,aspect\nOctopuses,Eight arms.,9:16\nWhales,Big.,4:3\n"
    )
    page.goto(f"{server.base_url}/#/batches")
    page.get_by_label("CSV file", exact=True).set_input_files(str(csv))
    page.get_by_role("button", name="Queue the batch").click()

    expect(page.get_by_role("alert")).to_have_text(
        "typo.csv, line 3: jobs[1].aspect: Input should be '9:16', '16:9' or '1:1'"
    )
    with server.api() as client:
        assert client.get("/api/batches").json()["total"] == 0
