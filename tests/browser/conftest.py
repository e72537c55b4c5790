"""Browser tests' fixtures: Debian's Chromium through Playwright, and the real `moneyprinter
serve` (API, worker and the built web page at `/`) on each database."""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from app.settings import find_ffmpeg
from tests.support.processes import moneyprinter_server

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
WEB_INDEX = REPO / "web" / "dist" / "index.html"
SCREENSHOTS = REPO / "test-artifacts" / "screenshots"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-quic",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
]
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
START_TIMEOUT_S = 30.0


class Server:
    def __init__(self, process: subprocess.Popen[bytes], base_url: str, log_path: Path) -> None:
        self.process = process
        self.base_url = base_url
        self.log_path = log_path

    def log(self) -> str:
        return self.log_path.read_text("utf-8", "replace")

    def api(self) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, timeout=10.0)


@pytest.fixture
def browser(server: Server) -> Iterator[Browser]:
    """Chromium, started after the server and closed before it. Not session-wide: the sync
    Playwright API keeps an event loop running in this thread, and the database fixtures (which
    `server` needs, per test) call `asyncio.run`, which refuses to run inside one."""
    # Fail, not skip: a browser suite that skips itself proves nothing (CI installs both).
    if not CHROMIUM.is_file():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's Chromium (apt-get install chromium).")
    if not WEB_INDEX.is_file():
        pytest.fail(
            f"{WEB_INDEX} is missing: build the web app (cd web && npm ci && npm run build)."
        )
    with sync_playwright() as driver:
        chromium = driver.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        yield chromium
        chromium.close()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    context = browser.new_context(viewport=DESKTOP)
    yield context
    context.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    page = context.new_page()
    page.set_default_timeout(15_000)
    return page


@pytest.fixture
def server_env() -> dict[str, str]:
    """Extra environment for the server; a test module overrides this fixture to configure it."""
    return {}


@pytest.fixture
def server(tmp_path: Path, database_url: str, server_env: dict[str, str]) -> Iterator[Server]:
    """`moneyprinter serve` on a free port: SQLite in the data folder, or a fresh Postgres."""
    env = {
        **os.environ,
        "MONEYPRINTER_DATA_DIR": str(tmp_path / "data"),
        "DATABASE_URL": "" if database_url.startswith("sqlite") else database_url,
        "OLLAMA_BASE_URL": "http://127.0.0.1:9",  # nothing listens: jobs narrate their script
        "MONEYPRINTER_API_KEY": "",
        "MONEYPRINTER_POLL_INTERVAL_S": "0.2",
        "MONEYPRINTER_STREAM_POLL_INTERVAL_S": "0.1",
        **server_env,
    }
    log_path = tmp_path / "server.log"
    with moneyprinter_server(
        "serve", cwd=tmp_path, env=env, log_path=log_path, start_timeout_s=START_TIMEOUT_S
    ) as (process, port):
        yield Server(process, f"http://127.0.0.1:{port}", log_path)


def screenshot(page: Page, name: str) -> Path:
    """Save the whole page as test-artifacts/screenshots/<name>.png (for people to look at)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


@pytest.fixture(scope="module")
def tiny_mp3(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two seconds of a tone, a real MP3 made by ffmpeg."""
    path = tmp_path_factory.mktemp("songs") / "Sine Tone.mp3"
    subprocess.run(
        [find_ffmpeg(), "-v", "error", "-f", "lavfi", "-i", "sine=frequency=440:duration=2",
         "-c:a", "libmp3lame", str(path)],
        check=True,
        timeout=60,
    )  # fmt: skip
    return path


# -- helpers shared by the browser tests -------------------------------------------------------

# About 20 s as a draft: long enough that a reload or a cancel lands while the job runs.
LONG_SCRIPT = " ".join(
    [
        "Octopuses have three hearts and blue blood.",
        "Each of their eight arms can taste what it touches.",
        "They change colour and texture in the blink of an eye.",
        "An octopus can squeeze through any gap larger than its beak.",
        "Some carry coconut shells around to use as shelters.",
        "They solve puzzles and open jars from the inside.",
        "Most of their neurons live in their arms, not their head.",
        "They taste, think and hunt with every limb at once.",
        "Sadly, most octopuses live for only a year or two.",
        "Still, few animals are as clever as the octopus.",
    ]
)
JOB_TIMEOUT_MS = 90_000
JOB_URL = re.compile(r"#/jobs/([0-9a-f-]{36})$")


def percent(page: Page) -> int:
    """The job page's overall progress."""
    return int(page.get_by_test_id("overall-percent").inner_text().rstrip("%"))


def queue_job(server: Server, subject: str, script: str = LONG_SCRIPT) -> str:
    """A draft job queued over the API; its id."""
    with server.api() as client:
        response = client.post(
            "/api/generate", json={"videoSubject": subject, "script": script, "quality": "draft"}
        )
    assert response.status_code == 200, response.text
    return str(response.json()["jobId"])
