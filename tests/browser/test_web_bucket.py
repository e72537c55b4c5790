"""The web page with every file in a bucket (moto's S3 server on loopback): the same create,
watch (the video plays and seeks through ranged reads from the bucket), download and song tests as
with the data folder, run again against a server whose files are only in the bucket."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import JOB_TIMEOUT_MS, Server, queue_job
from playwright.sync_api import Page, expect
from test_web_app import (  # collected again here, with this module's server
    test_create_follow_through_a_reload_and_watch,
    test_upload_play_and_delete_a_song,
)

from tests.support.s3 import aws_environment, new_bucket, s3_server

__all__ = ["test_create_follow_through_a_reload_and_watch", "test_upload_play_and_delete_a_song"]


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    with s3_server() as endpoint:
        yield endpoint


@pytest.fixture
def server_env(s3_endpoint: str) -> dict[str, str]:
    return {
        **aws_environment(s3_endpoint),
        "MONEYPRINTER_STORAGE_URL": f"s3://{new_bucket(s3_endpoint)}/web",
    }


def test_the_page_seeks_in_a_video_that_is_only_in_the_bucket(
    server: Server, page: Page, tmp_path: Path
) -> None:
    job_id = queue_job(server, "Tides", script="The Moon pulls the sea. Twice a day it rises.")
    page.goto(f"{server.base_url}/#/jobs/{job_id}")
    expect(page.get_by_test_id("job-state")).to_have_text("completed", timeout=JOB_TIMEOUT_MS)

    seeked_to = page.evaluate(
        """async () => {
            const video = document.querySelector('video');
            video.muted = true;
            await new Promise(resolve => video.readyState >= 1 ? resolve()
                : video.addEventListener('loadedmetadata', resolve, {once: true}));
            video.currentTime = video.duration * 0.75;
            await new Promise(resolve => video.addEventListener('seeked', resolve, {once: true}));
            return video.currentTime / video.duration;
        }"""
    )

    assert 0.7 < seeked_to < 0.8
    data_dir = tmp_path / "data"
    assert [path for path in data_dir.rglob("*") if path.is_file() and job_id in str(path)] == []
