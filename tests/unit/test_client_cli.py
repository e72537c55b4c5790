"""The API client's and `moneyprinter generate`'s pure pieces: SSE parsing, the ETA, the progress
lines, the request built from the options, the output path, the jobs table."""

from __future__ import annotations

import io
import time
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import get_args

import pytest

from app.client.api import ApiError, JobEvent, MoneyPrinterClient, SseMessage, StreamEnd, parse_sse
from app.client.commands import build_request, format_jobs_table, output_path
from app.client.config import ClientSettings
from app.client.progress import ProgressDisplay, estimate_remaining_s, format_duration
from tests.fakes.server import serving
from worker.cli import build_parser

JOB_ID = "3f2b8c1e-5d4a-4e8f-9a61-0c7d2e9b4f10"


def test_sse_events_dispatch_on_a_blank_line_and_skip_comments() -> None:
    lines = [
        ": keepalive",
        "",
        "id: 7",
        "event: stage",
        'data: {"id": 7}',
        "",
        "event: end",
        'data: {"state": "completed"}',
        "",
    ]

    assert list(parse_sse(lines)) == [
        SseMessage(event="stage", data='{"id": 7}', id="7"),
        SseMessage(event="end", data='{"state": "completed"}', id="7"),  # the id carries over
    ]


def test_sse_joins_data_lines_keeps_spaces_after_the_first_and_drops_an_unfinished_event() -> None:
    lines = ["data:one", "data:  two", "unknown: field", "", "data: cut off before the blank"]

    assert list(parse_sse(lines)) == [SseMessage(event="message", data="one\n two", id=None)]


def test_sse_lines_without_data_dispatch_nothing() -> None:
    assert list(parse_sse(["id: 3", "event: stage", "", "retry: 1000", ""])) == []


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(None, "--:--"), (float("nan"), "--:--"), (-1, "--:--"), (0, "0:00"), (59.6, "1:00"),
     (125, "2:05"), (3600 + 62, "1:01:02")],
)  # fmt: skip
def test_durations_read_as_a_clock(seconds: float | None, text: str) -> None:
    assert format_duration(seconds) == text


def test_the_eta_is_the_pace_so_far_applied_to_what_is_left() -> None:
    assert estimate_remaining_s(0.25, 10.0) == pytest.approx(30.0)
    assert estimate_remaining_s(1.0, 10.0) == 0.0
    assert estimate_remaining_s(0.01, 10.0) is None  # too early to say
    assert estimate_remaining_s(0.5, 0.0) is None


class Clock:
    def __init__(self) -> None:
        self.now_s = 100.0

    def __call__(self) -> float:
        return self.now_s


def event(kind: str, message: str, **payload: object) -> JobEvent:
    return JobEvent(id=1, type=kind, level="info", message=message, payload=dict(payload))


def test_off_a_terminal_each_stage_and_state_is_one_plain_line() -> None:
    stream, clock = io.StringIO(), Clock()
    display = ProgressDisplay(stream, interactive=False, clock=clock)

    display.show(event("state", "Job queued.", state="queued"))
    display.show(event("state", "Job started.", state="running"))
    clock.now_s += 5
    display.show(event("stage", "Rendering.", stage="render", progress=0.5))
    display.show(event("progress", "render: 75%", stage="render", progress=0.75))
    display.show(event("log", "Rendered a frame.", stage="render", progress=0.8))
    clock.now_s += 5
    display.show(event("state", "Job completed.", state="completed"))

    assert stream.getvalue().splitlines() == [
        "[  0%] queued    Waiting for a worker.",
        "[  0%] running   A worker took the job.",
        "[ 50%] render    Rendering.  ETA 0:05",
        "[100%] done      Job completed. (0:10)",
    ]
    assert "\r" not in stream.getvalue()


def test_on_a_terminal_the_bar_is_redrawn_in_place_and_cleared_for_lines() -> None:
    stream, clock = io.StringIO(), Clock()
    display = ProgressDisplay(stream, interactive=True, clock=clock)

    display.show(event("state", "Job started.", state="running"))
    clock.now_s += 10
    display.show(event("progress", "render: 40%", stage="render", progress=0.4))
    display.close()

    output = stream.getvalue()
    assert "\r[###########-----------------]  40% starting  ETA 0:15" in output
    assert output.endswith("\r\033[K")


def test_a_retry_restarts_the_clock_and_the_bar() -> None:
    stream = io.StringIO()
    display = ProgressDisplay(stream, interactive=False, clock=Clock())

    display.show(event("stage", "Rendering.", stage="render", progress=0.6))
    display.show(event("retry", "Attempt 1 failed: boom. Retrying in 10 s.", state="queued"))

    assert stream.getvalue().splitlines()[-1] == (
        "[  0%] retry     Attempt 1 failed: boom. Retrying in 10 s."
    )


def test_the_request_holds_the_options_given_in_the_apis_names(tmp_path: Path) -> None:
    script = tmp_path / "script.txt"
    script.write_text("Tides rise twice a day.", encoding="utf-8")
    args = build_parser().parse_args(
        ["generate", "Tides", "--script-file", str(script), "--aspect", "16:9",
         "--quality", "draft", "--paragraphs", "2", "--song", "sea.mp3", "--music-volume", "0.3",
         "--priority", "5", "--max-attempts", "1", "--subtitles-position", "center,top",
         "--color", "white", "--font-size", "60", "--footage-source", "generated",
         "--word-highlight", "--review"]
    )  # fmt: skip

    assert build_request(args) == {
        "videoSubject": "Tides",
        "script": "Tides rise twice a day.",
        "aspect": "16:9",
        "quality": "draft",
        "paragraphNumber": 2,
        "song": "sea.mp3",
        "useMusic": True,
        "musicVolume": 0.3,
        "priority": 5,
        "maxAttempts": 1,
        "subtitlesPosition": "center,top",
        "color": "white",
        "fontSize": 60,
        "footageSource": "generated",
        "wordHighlight": True,
        "review": True,
    }


def test_options_not_given_are_left_to_the_server() -> None:
    args = build_parser().parse_args(["generate", "Tides"])

    assert build_request(args) == {"videoSubject": "Tides"}


def test_the_video_goes_to_the_path_given_or_named_after_the_job(tmp_path: Path) -> None:
    assert output_path(None, JOB_ID) == Path(f"{JOB_ID}.mp4")
    assert output_path(str(tmp_path), JOB_ID) == tmp_path / f"{JOB_ID}.mp4"
    assert output_path("new/", JOB_ID) == Path("new") / f"{JOB_ID}.mp4"
    assert output_path("tides.mp4", JOB_ID) == Path("tides.mp4")


@pytest.mark.parametrize(
    ("host", "url"),
    [("127.0.0.1", "http://127.0.0.1:9000"), ("0.0.0.0", "http://127.0.0.1:9000"),
     ("::1", "http://[::1]:9000"), ("render-1", "http://render-1:9000")],
)  # fmt: skip
def test_the_default_url_is_where_serve_listens(host: str, url: str) -> None:
    settings = ClientSettings(_env_file=None, host=host, port=9000)  # type: ignore[call-arg]

    assert settings.server_url == url


def test_moneyprinter_url_names_another_server() -> None:
    settings = ClientSettings(_env_file=None, url="https://render.example.org/", port=9000)  # type: ignore[call-arg]

    assert settings.server_url == "https://render.example.org"


def test_the_jobs_table_lines_up_and_counts() -> None:
    jobs = [
        {"id": JOB_ID, "state": "running", "cancelRequested": True, "stage": "render",
         "progress": 0.42, "createdAt": "2026-01-02T03:04:05+00:00",
         "videoSubject": "Why octopuses are smart and what they do with nine brains all day"},
    ]  # fmt: skip

    lines = format_jobs_table(jobs, total=3).splitlines()

    assert lines[0].split() == ["ID", "STATE", "STAGE", "DONE", "CREATED", "SUBJECT"]
    assert lines[1].startswith(f"{JOB_ID}  cancelling  render  42%")
    assert lines[1].endswith("Why octopuses are smart and what they d…")
    assert lines[2] == "1-1 of 3 job(s)"
    assert format_jobs_table([], total=0) == "No jobs."


def test_an_api_error_reads_as_the_servers_message_and_status() -> None:
    assert str(ApiError("Job not found.", status_code=404)) == "Job not found. (HTTP 404)"
    assert str(ApiError("Cannot reach the server.")) == "Cannot reach the server."


class RecyclingProxy(BaseHTTPRequestHandler):
    """A proxy in front of the stream that closes every connection after a keepalive, as some
    load balancers do with long-lived requests, while the job waits in the queue; the fourth
    connection finds the job ended."""

    connections = 0

    def do_GET(self) -> None:
        type(self).connections += 1
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        time.sleep(0.2)
        if type(self).connections < 4:
            self.wfile.write(b": keepalive\n\n")
        else:
            self.wfile.write(b'event: end\ndata: {"state": "completed"}\n\n')

    def log_message(self, *args: object) -> None:
        pass


def test_a_stream_that_keeps_answering_is_never_given_up() -> None:
    # Each connection lives 0.2 s, longer than the 0.1 s allowed without a working stream: only
    # a failed connection counts towards giving up, not one that answered and closed.
    with serving(RecyclingProxy) as url, MoneyPrinterClient(url) as client:
        items = list(client.follow("job-1", give_up_after_s=0.1))

    assert items == [StreamEnd(state="completed")]
    assert RecyclingProxy.connections == 4


def test_the_clients_choices_are_the_apis() -> None:
    """The client writes the API's vocabularies down rather than import the service."""
    from app.client import commands
    from app.domain import Aspect, FootageSource, JobStatus, Quality

    assert tuple(status.value for status in JobStatus) == commands.JOB_STATES
    assert get_args(Aspect) == commands.ASPECTS
    assert get_args(Quality) == commands.QUALITIES
    assert get_args(FootageSource) == commands.FOOTAGE_SOURCES
