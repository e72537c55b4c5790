"""`moneyprinter generate | jobs | cancel | retry`: a server's public API from the command line."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from app.client.api import ApiError, MoneyPrinterClient, StreamEnd
from app.client.batch import (
    BatchFileError,
    ended_badly,
    follow_batch,
    read_batch_file,
    save_videos,
)
from app.client.config import ClientSettings
from app.client.progress import ProgressDisplay

EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130
SUBJECT_WIDTH = 40

# The API's vocabularies, for the options' choices. The client imports nothing of the service, so
# they are written here; tests/unit/test_client_cli.py checks them against app/domain.py.
JOB_STATES = ("queued", "running", "awaiting_review", "completed", "failed", "cancelled")
ASPECTS = ("9:16", "16:9", "1:1")
QUALITIES = ("draft", "standard", "high")
FOOTAGE_SOURCES = ("auto", "pexels", "pixabay", "local", "generated")

# Queue settings a batch takes beside its `jobs`, for all of them, never in its shared options.
BATCH_FIELDS = ("priority", "maxAttempts")
# Options of `generate` that are request fields as they are: (option's dest, the API's name).
# Unset options are not sent, so the server's defaults apply.
PRIVACIES = ("private", "unlisted", "public")
REQUEST_FIELDS = (
    ("voice", "voice"),
    ("language", "language"),
    ("aspect", "aspect"),
    ("quality", "quality"),
    ("paragraphs", "paragraphNumber"),
    ("target_seconds", "targetSeconds"),
    ("ai_model", "aiModel"),
    ("prompt", "customPrompt"),
    ("footage_source", "footageSource"),
    ("clip_duration", "clipDuration"),
    ("song", "song"),
    ("music_volume", "musicVolume"),
    ("subtitles_position", "subtitlesPosition"),
    ("color", "color"),
    ("font_size", "fontSize"),
    ("priority", "priority"),
    ("max_attempts", "maxAttempts"),
    ("project_id", "projectId"),
)


def add_parsers(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    server = argparse.ArgumentParser(add_help=False)
    server.add_argument(
        "--url",
        help="the server (default: http://MONEYPRINTER_HOST:MONEYPRINTER_PORT, "
        "http://127.0.0.1:8080)",
    )
    server.add_argument("--api-key", help="sent with every request (default: MONEYPRINTER_API_KEY)")

    generate = commands.add_parser(
        "generate",
        parents=[server],
        help="queue a video on a server, follow it to the end, download it",
    )
    _add_generate_options(generate)
    generate.set_defaults(command=generate_command, config=ClientSettings)

    jobs = commands.add_parser("jobs", parents=[server], help="list a server's jobs, newest first")
    jobs.add_argument("--status", choices=JOB_STATES)
    jobs.add_argument("--limit", type=int, default=20, help="at most this many (1-100, default 20)")
    jobs.add_argument("--offset", type=int, default=0, help="skip this many newest first")
    jobs.set_defaults(command=jobs_command, config=ClientSettings)

    cancel = commands.add_parser("cancel", parents=[server], help="cancel a queued or running job")
    cancel.add_argument("job_id", metavar="JOB_ID")
    cancel.set_defaults(command=cancel_command, config=ClientSettings)

    retry = commands.add_parser(
        "retry", parents=[server], help="queue a failed or cancelled job again"
    )
    retry.add_argument("job_id", metavar="JOB_ID")
    retry.set_defaults(command=retry_command, config=ClientSettings)


def _add_generate_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("subject", nargs="?", help="what the video is about")
    parser.add_argument(
        "--batch",
        metavar="FILE.csv",
        type=Path,
        help="queue one video per row of this CSV file instead (a header row names the fields: "
        "subject, script, voice…; - is stdin); the options given are shared by every row",
    )
    parser.add_argument("--title", help="the batch's title (with --batch)")
    text = parser.add_mutually_exclusive_group()
    text.add_argument("--script", help="the narration (default: the server's LLM writes it)")
    text.add_argument("--script-file", type=Path, help="a file holding the narration; - is stdin")
    parser.add_argument("--voice", help="a voice id (GET /api/voices)")
    parser.add_argument("--language", help="en by default")
    parser.add_argument("--aspect", choices=ASPECTS, help="9:16 by default")
    parser.add_argument("--quality", choices=QUALITIES, help="standard by default")
    parser.add_argument("--paragraphs", type=int, help="paragraphs of an LLM-written script")
    parser.add_argument("--target-seconds", type=int, help="length of an LLM-written script")
    parser.add_argument("--ai-model", help="the LLM model (default: the server's)")
    parser.add_argument("--prompt", help="extra instructions for the LLM")
    parser.add_argument("--footage-source", choices=FOOTAGE_SOURCES)
    parser.add_argument("--clip-duration", type=float, help="seconds of each footage clip")
    music = parser.add_mutually_exclusive_group()
    music.add_argument("--song", help="an uploaded song's name (implies music)")
    music.add_argument("--music", action="store_true", help="mix a random uploaded song")
    parser.add_argument("--music-volume", type=float, help="0-1, 0.1 by default")
    parser.add_argument("--subtitles-position", help="horizontal,vertical, e.g. center,bottom")
    parser.add_argument("--color", help="subtitle colour: #RRGGBB or a CSS name")
    parser.add_argument("--font-size", type=int, help="subtitle size, 20-200")
    parser.add_argument("--word-highlight", action="store_true", help="karaoke subtitles")
    parser.add_argument("--priority", type=int, help="-100 to 100; higher runs first")
    parser.add_argument("--max-attempts", type=int, help="tries before the job fails (1-10)")
    parser.add_argument("--project-id", type=int)
    parser.add_argument("--idempotency-key", help="a repeated key returns the first job (or batch)")
    parser.add_argument(
        "-o",
        "--output",
        help="where the MP4 goes; a folder (or a path ending in /) gets <job id>.mp4 inside "
        "(default: ./<job id>.mp4)",
    )
    parser.add_argument(
        "--youtube",
        choices=PRIVACIES,
        help="then publish it to the server's YouTube account with this privacy, follow the "
        "upload, and print the video's address",
    )
    parser.add_argument(
        "--review",
        action="store_true",
        help="stop before the render with a storyboard to review (the job's web page, or GET/"
        "PATCH /api/jobs/ID/storyboard, then POST /api/jobs/ID/render); prints the job id",
    )
    parser.add_argument(
        "--detach", action="store_true", help="print the job id once queued, and exit"
    )


# -- commands ----------------------------------------------------------------------------------


def generate_command(args: argparse.Namespace, settings: ClientSettings) -> int:
    if (args.subject is None) == (args.batch is None):
        return _fail("generate", "give a subject, or --batch FILE.csv (not both)", EXIT_BAD_INPUT)
    if args.batch is not None:
        return batch_command(args, settings)
    try:
        request = build_request(args)
    except OSError as exc:
        return _fail("generate", f"cannot read {args.script_file}: {exc.strerror}", EXIT_BAD_INPUT)
    client = _client(args, settings)
    if client is None:
        return EXIT_BAD_INPUT
    display = ProgressDisplay(sys.stderr)
    job_id: str | None = None
    done = False
    with client:
        try:
            job_id = client.submit(request, idempotency_key=args.idempotency_key)
            if args.detach:
                print(job_id)
                return 0
            print(f"Queued job {job_id} on {client.base_url}", file=sys.stderr)
            state = follow_job(client, job_id, display)
            done = True
            if state == "awaiting_review":
                print(
                    f"Job {job_id} awaits review: open {client.base_url}/#/jobs/{job_id}, or "
                    f"edit /api/jobs/{job_id}/storyboard and POST /api/jobs/{job_id}/render.",
                    file=sys.stderr,
                )
                print(job_id)
                return 0
            if state != "completed":
                return _fail("generate", _ending(client.get_job(job_id), state))
            output = output_path(args.output, job_id)
            size = client.download_video(job_id, output)
        except ApiError as exc:
            display.close()
            return _fail("generate", str(exc))
        except OSError as exc:  # the video could not be written where it was asked for
            display.close()
            where = f"{client.base_url}/api/jobs/{job_id}/video"
            return _fail("generate", f"cannot save the video: {exc}; it stays at {where}")
        except KeyboardInterrupt:
            display.close()
            print(_interrupted(job_id, done=done), file=sys.stderr)
            return EXIT_INTERRUPTED
        print(f"Saved {output} ({size:,} bytes).", file=sys.stderr)
        print(output, flush=True)
        return publish_outcome(client, job_id, display) if args.youtube else 0


def batch_command(args: argparse.Namespace, settings: ClientSettings) -> int:
    """Queue the file's rows as one batch, follow it, save the finished videos in a folder
    (`-o`, default `./batch-<id>/`); exit 1 when any job did not complete."""
    try:
        if str(args.batch) == "-":
            batch_file = read_batch_file(sys.stdin, name="stdin")
        else:
            # utf-8-sig: a spreadsheet's byte-order mark is not part of the first column's name.
            with args.batch.open(encoding="utf-8-sig", newline="") as stream:
                batch_file = read_batch_file(stream, name=str(args.batch))
        options = build_request(args)
    except OSError as exc:
        return _fail("generate", f"cannot read {exc.filename}: {exc.strerror}", EXIT_BAD_INPUT)
    except BatchFileError as exc:
        return _fail("generate", str(exc), EXIT_BAD_INPUT)
    request: dict[str, Any] = {
        "options": {k: v for k, v in options.items() if k not in BATCH_FIELDS},
        "jobs": batch_file.entries,
    }
    request |= {k: v for k, v in options.items() if k in BATCH_FIELDS}
    if args.title:
        request["title"] = args.title
    client = _client(args, settings)
    if client is None:
        return EXIT_BAD_INPUT
    batch_id: str | None = None
    with client:
        try:
            created = client.submit_batch(request, idempotency_key=args.idempotency_key)
            batch_id = str(created["batchId"])
            if args.detach:
                print(batch_id)
                return 0
            print(
                f"Queued batch {batch_id} ({len(batch_file.entries)} videos) on {client.base_url}",
                file=sys.stderr,
            )
            body = follow_batch(client, batch_id)
            if body["batch"]["state"] == "awaiting_review":
                waiting = [job for job in body["jobs"] if job["state"] == "awaiting_review"]
                print(
                    f"{len(waiting)} video(s) await review: open {client.base_url}/#/batches/"
                    f"{batch_id} to review each, then render it.",
                    file=sys.stderr,
                )
                print(batch_id)
                failed = ended_badly(body["jobs"], fine=("awaiting_review",))
                if failed:
                    print("Not planned:\n" + "\n".join(failed), file=sys.stderr)
                return EXIT_FAILED if failed else 0
            folder = Path(args.output or f"batch-{batch_id[:8]}")
            saved = save_videos(client, body["jobs"], folder)
        except ApiError as exc:
            return _fail("generate", batch_file.locate(str(exc)))
        except OSError as exc:
            return _fail("generate", f"cannot save a video: {exc}")
        except KeyboardInterrupt:
            print(
                f"\nStopped following; batch {batch_id} goes on on the server "
                f"(GET /api/batches/{batch_id}).",
                file=sys.stderr,
            )
            return EXIT_INTERRUPTED
    for path in saved:
        print(path, flush=True)
    failed = ended_badly(body["jobs"])
    print(f"Saved {len(saved)} video(s) in {folder}.", file=sys.stderr)
    if failed:
        print("Not completed:\n" + "\n".join(failed), file=sys.stderr)
        return EXIT_FAILED
    return 0


def publish_outcome(client: MoneyPrinterClient, job_id: str, display: ProgressDisplay) -> int:
    """Follow the video's publish job to its end; print the YouTube address it made."""
    publish_id: str | None = None
    try:
        publications = client.get_publications(job_id)
        if not publications:
            return _fail("generate", "the server queued no publish job for the video")
        publish_id = str(publications[0]["jobId"])
        print(f"Publishing to YouTube as job {publish_id}", file=sys.stderr)
        state = follow_job(client, publish_id, display)
        if state != "completed":
            return _fail("generate", _ending(client.get_job(publish_id), state))
        (published,) = client.get_publications(publish_id)
    except ApiError as exc:
        display.close()
        return _fail("generate", str(exc))
    except KeyboardInterrupt:
        display.close()
        print(_interrupted(publish_id, done=False), file=sys.stderr)
        return EXIT_INTERRUPTED
    print(f"Published on YouTube: {published['url']}", file=sys.stderr)
    print(published["url"])
    return 0


def jobs_command(args: argparse.Namespace, settings: ClientSettings) -> int:
    client = _client(args, settings)
    if client is None:
        return EXIT_BAD_INPUT
    with client:
        try:
            page = client.list_jobs(status=args.status, limit=args.limit, offset=args.offset)
        except ApiError as exc:
            return _fail("jobs", str(exc))
    print(format_jobs_table(page["jobs"], total=int(page["total"]), offset=args.offset))
    return 0


def cancel_command(args: argparse.Namespace, settings: ClientSettings) -> int:
    return _act_on_job(args, settings, "cancel", MoneyPrinterClient.cancel)


def retry_command(args: argparse.Namespace, settings: ClientSettings) -> int:
    return _act_on_job(args, settings, "retry", MoneyPrinterClient.retry)


def _act_on_job(
    args: argparse.Namespace,
    settings: ClientSettings,
    name: str,
    action: Callable[[MoneyPrinterClient, str], dict[str, Any]],
) -> int:
    client = _client(args, settings)
    if client is None:
        return EXIT_BAD_INPUT
    with client:
        try:
            body = action(client, args.job_id)
        except ApiError as exc:
            return _fail(name, str(exc))
    print(f"{body['message']} Job {body['jobId']} is {body['state']}.")
    return 0


# -- pieces ------------------------------------------------------------------------------------


def build_request(args: argparse.Namespace) -> dict[str, Any]:
    """The camelCase `POST /api/generate` body of the options given (without a subject, the
    options a batch shares); the server validates it."""
    request: dict[str, Any] = {} if args.subject is None else {"videoSubject": args.subject}
    script = args.script
    if args.script_file is not None:
        script = (
            sys.stdin.read()
            if str(args.script_file) == "-"
            else args.script_file.read_text(encoding="utf-8")
        )
    if script is not None:
        request["script"] = script
    for dest, field in REQUEST_FIELDS:
        value = getattr(args, dest)
        if value is not None:
            request[field] = value
    if args.music or args.song:
        request["useMusic"] = True
    if args.word_highlight:
        request["wordHighlight"] = True
    if args.review:
        request["review"] = True
    if args.youtube:
        request["automateYoutubeUpload"] = True
        request["publish"] = {"privacy": args.youtube}
    return request


def follow_job(client: MoneyPrinterClient, job_id: str, display: ProgressDisplay) -> str:
    """Show the job's events until its final state, which is returned."""
    for item in client.follow(job_id):
        if isinstance(item, StreamEnd):
            display.close()
            return item.state
        display.show(item)
    raise ApiError(f"The event stream of job {job_id} ended without its final state.")


def output_path(output: str | None, job_id: str) -> Path:
    """`-o` as given; a folder (existing, or named with a trailing slash) gets `<job id>.mp4`
    inside it, as does this folder without `-o`."""
    if not output:
        return Path(f"{job_id}.mp4")
    path = Path(output)
    if output.endswith(("/", os.sep)) or path.is_dir():
        return path / f"{job_id}.mp4"
    return path


def format_jobs_table(jobs: list[dict[str, Any]], *, total: int, offset: int = 0) -> str:
    if not jobs:
        return "No jobs." if total == 0 else f"No jobs here ({total} in all)."
    header = ("ID", "STATE", "STAGE", "DONE", "CREATED", "SUBJECT")
    rows = [header, *(_job_row(job) for job in jobs)]
    widths = [max(len(row[column]) for row in rows) for column in range(len(header) - 1)]
    lines = [
        "  ".join([*(cell.ljust(width) for cell, width in zip(row, widths, strict=False)), row[-1]])
        for row in rows
    ]
    lines.append(f"{offset + 1}-{offset + len(jobs)} of {total} job(s)")
    return "\n".join(lines)


def _job_row(job: dict[str, Any]) -> tuple[str, ...]:
    state = str(job["state"])
    if job.get("cancelRequested") and state == "running":
        state = "cancelling"
    subject = " ".join(str(job.get("videoSubject", "")).split())
    if len(subject) > SUBJECT_WIDTH:
        subject = subject[: SUBJECT_WIDTH - 1] + "…"
    created = datetime.fromisoformat(str(job["createdAt"])).astimezone()
    return (
        str(job["id"]),
        state,
        str(job.get("stage") or "-"),
        f"{float(job.get('progress') or 0):.0%}",
        created.strftime("%Y-%m-%d %H:%M"),
        subject,
    )


def _ending(job: dict[str, Any], state: str) -> str:
    reason = job.get("errorMessage") or ("Job cancelled." if state == "cancelled" else "")
    return f"job {job['id']} {state}: {reason}".rstrip(": ")


def _interrupted(job_id: str | None, *, done: bool) -> str:
    if job_id is None:
        return "Interrupted before the server answered: the job may be queued (moneyprinter jobs)."
    if done:
        return f"Interrupted; the job {job_id} has ended (moneyprinter jobs)."
    return (
        f"Stopped following job {job_id}; it keeps running on the server "
        f"(moneyprinter cancel {job_id} stops it)."
    )


def _client(args: argparse.Namespace, settings: ClientSettings) -> MoneyPrinterClient | None:
    """A client of `--url` (default: `settings.server_url`), or None after saying why the URL is
    unusable."""
    url = args.url or settings.server_url
    try:
        scheme = httpx.URL(url).scheme
    except httpx.InvalidURL as exc:
        scheme, reason = "", str(exc)
    else:
        reason = "the URL must start with http:// or https://"
    if scheme not in ("http", "https"):
        _fail(args.command.__name__.removesuffix("_command"), f"bad --url {url!r}: {reason}")
        return None
    api_key = settings.api_key if args.api_key is None else args.api_key
    return MoneyPrinterClient(url, api_key=api_key)


def _fail(command: str, message: str, code: int = EXIT_FAILED) -> int:
    print(f"moneyprinter {command}: {message}", file=sys.stderr)
    return code
