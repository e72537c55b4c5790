"""The server commands of the API's side: `moneyprinter api` (the HTTP API alone, workers run
elsewhere) and `moneyprinter migrate`; and what every server command shares: the HTTP options and
the log format."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

import uvicorn
from pydantic_settings import BaseSettings

from app.crypto import new_key
from app.http_server import http_options
from app.settings import Settings
from app.storage import StorageError, is_object_store, open_store, storage_url_problem
from app.webhooks import new_secret
from app.youtube import AccountError, DeviceCode

if TYPE_CHECKING:
    from app.db.models import YouTubeAccount

logger = logging.getLogger("moneyprinter")

WORKER_HEALTHCHECK_TIMEOUT_S = 30
LOG_FORMAT = "%(asctime)s %(levelname)s [%(name)s] %(message)s"

Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def add_parsers(commands: Subparsers) -> None:
    api = commands.add_parser("api", help="the API alone (workers run elsewhere)")
    add_http_options(api)
    api.add_argument(
        "--workers",
        type=positive_int,
        default=1,
        help="API processes sharing the port (default 1); on Postgres, one per core; on SQLite "
        "keep 1 (processes would queue for the database file's lock by sleeping)",
    )
    api.set_defaults(command=api_command, config=Settings)

    migrate = commands.add_parser("migrate", help="bring the database to the newest schema")
    migrate.set_defaults(command=migrate_command, config=Settings)

    webhooks = commands.add_parser("webhooks", help="webhook tools")
    webhooks_commands = webhooks.add_subparsers(required=True, metavar="action")
    secret = webhooks_commands.add_parser(
        "secret", help="print a new signing secret for MONEYPRINTER_WEBHOOK_SECRET"
    )
    # Reads no settings: it is what a user runs while the webhook settings are incomplete.
    secret.set_defaults(command=webhook_secret_command, config=NoSettings)

    storage = commands.add_parser("storage", help="the stored files")
    storage_commands = storage.add_subparsers(required=True, metavar="action")
    copy = storage_commands.add_parser(
        "copy",
        help="copy the data folder's job files, songs and voice samples into a bucket and point "
        "the jobs at it (resumable: run it again after a stop)",
    )
    copy.add_argument("--to", required=True, metavar="s3://BUCKET/PREFIX", type=bucket_url)
    copy.set_defaults(command=storage_copy_command, config=Settings)

    youtube = commands.add_parser("youtube", help="YouTube accounts")
    youtube_commands = youtube.add_subparsers(required=True, metavar="action")
    key = youtube_commands.add_parser(
        "key", help="print a new MONEYPRINTER_SECRET_KEY (it encrypts stored account tokens)"
    )
    key.set_defaults(command=youtube_key_command, config=NoSettings)
    imported = youtube_commands.add_parser(
        "import",
        help="connect the account of the original MoneyPrinter's login files",
        description="Reads Google's client secrets file and the token file the original "
        "MoneyPrinter stored after its first upload (oauth2client's format), checks the login "
        "with Google, and stores it, encrypted with MONEYPRINTER_SECRET_KEY.",
    )
    imported.add_argument(
        "--client-secrets", type=Path, default=Path("client_secret.json"), metavar="FILE"
    )
    imported.add_argument("--token", type=Path, default=Path("main.py-oauth2.json"), metavar="FILE")
    imported.set_defaults(command=youtube_import_command, config=Settings)
    connect = youtube_commands.add_parser(
        "connect",
        help="connect an account from a terminal, no browser needed here",
        description="Prints where to sign in and a code to enter there, on any device, and waits "
        "(the device flow: an OAuth client of the type 'TVs and Limited Input devices'). With "
        "--paste, for a 'Desktop app' client: prints the sign-in address; after signing in, the "
        "browser goes to an address that does not load: paste that address here.",
    )
    connect.add_argument(
        "--client-secrets",
        type=Path,
        metavar="FILE",
        help="the OAuth client (default: MONEYPRINTER_YOUTUBE_CLIENT_SECRETS)",
    )
    connect.add_argument("--paste", action="store_true", help="paste the code back instead")
    connect.set_defaults(command=youtube_connect_command, config=Settings)
    listed = youtube_commands.add_parser("accounts", help="the connected accounts")
    listed.set_defaults(command=youtube_accounts_command, config=Settings)


class NoSettings(BaseSettings):
    """The settings of a command that needs none."""


def add_http_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", help="address to listen on (default: settings, 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port (default: settings, 8080)")


def positive_int(text: str) -> int:
    try:
        number = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return number


def api_command(args: argparse.Namespace, settings: Settings) -> int:
    from app.main import create_app  # FastAPI and the routes: only the commands that serve

    host, port = args.host or settings.host, args.port or settings.port
    if args.workers > 1:
        # Each worker is a fresh (spawned) process: it builds its own app from the environment
        # (so the environment must name the address --host chose: the app's Host and CORS
        # defaults depend on it), and sets up logging from this dict (it inherits no handlers).
        os.environ["MONEYPRINTER_HOST"] = host
        uvicorn.run(
            "app.main:create_app",
            factory=True,
            workers=args.workers,
            host=host,
            port=port,
            # A worker answers the supervisor's health check only once it has imported the app:
            # on a busy host that takes longer than uvicorn's 5 s, and it would be restarted.
            timeout_worker_healthcheck=WORKER_HEALTHCHECK_TIMEOUT_S,
            log_config=logging_config(args.log_level),
            **http_options(settings),
        )
        return 0
    uvicorn.run(
        create_app(settings.model_copy(update={"host": host})),
        host=host,
        port=port,
        log_config=None,  # uvicorn's records go through the root logger, in our format
        **http_options(settings),
    )
    return 0


def logging_config(level: str) -> dict[str, Any]:
    """What the entry point sets up, as a `logging.config.dictConfig` dict (for uvicorn's
    workers)."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"plain": {"format": LOG_FORMAT}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "plain",
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"level": level.upper(), "handlers": ["stderr"]},
        "loggers": {"httpx": {"level": "WARNING"}},
    }


def migrate_command(_args: argparse.Namespace, settings: Settings) -> int:
    from app.db.migrations import upgrade_to_head  # Alembic: only the commands that migrate

    upgrade_to_head(settings.resolved_direct_database_url)
    logger.info("database is at the newest schema")
    return 0


def bucket_url(text: str) -> str:
    if not is_object_store(text) or storage_url_problem(text, data_dir=Path(".")) is not None:
        raise argparse.ArgumentTypeError(f"{text!r} is not a bucket: s3://bucket/prefix")
    return text


def storage_copy_command(args: argparse.Namespace, settings: Settings) -> int:
    from app.storage_copy import copy_data_folder  # the database: only here

    store = open_store(args.to)
    try:
        report = asyncio.run(copy_data_folder(settings, store, progress=lambda line: print(line)))
    except StorageError as exc:
        print(f"moneyprinter: {exc}; run the copy again to resume", file=sys.stderr)
        return 1
    print(report.describe(store))
    return 1 if report.problems else 0


def webhook_secret_command(_args: argparse.Namespace, _settings: BaseSettings) -> int:
    print(new_secret())
    return 0


def youtube_key_command(_args: argparse.Namespace, _settings: BaseSettings) -> int:
    print(new_key())
    return 0


def youtube_import_command(args: argparse.Namespace, settings: Settings) -> int:
    from app.youtube_accounts import import_account  # httpx and the database: only here

    return _connect(lambda: import_account(settings, args.client_secrets, args.token))


def youtube_connect_command(args: argparse.Namespace, settings: Settings) -> int:
    from app.youtube_accounts import client_secrets, connect_by_device, connect_by_paste

    def announce(device: DeviceCode) -> None:
        print(f"Open {device.verification_url} on any device and enter the code {device.user_code}")
        print("Waiting for the sign-in…", flush=True)

    async def ask(url: str) -> str:
        print(f"Open this address in a browser and allow access:\n\n  {url}\n")
        print("The browser then goes to an address starting with http://127.0.0.1:1/ that does")
        prompt = "not load. Paste that whole address here: "
        return await asyncio.to_thread(input, prompt)

    def connection() -> Coroutine[Any, Any, YouTubeAccount]:
        client = client_secrets(settings, args.client_secrets)
        if args.paste:
            return connect_by_paste(settings, client, ask)
        return connect_by_device(settings, client, announce)

    return _connect(connection)


def youtube_accounts_command(_args: argparse.Namespace, settings: Settings) -> int:
    from app.youtube_accounts import list_accounts

    accounts = asyncio.run(list_accounts(settings))
    if not accounts:
        print("No YouTube account is connected.")
    for account in accounts:
        why = f": {account.status_message}" if account.status_message else ""
        print(
            f"{account.id}\t{account.channel_title} ({account.channel_id})\t{account.status}{why}"
        )
    return 0


def _connect(connection: Callable[[], Coroutine[Any, Any, YouTubeAccount]]) -> int:
    """Run a way of connecting an account; say which channel it connected, or why it did not."""
    try:
        account = asyncio.run(connection())
    except AccountError as exc:
        print(f"moneyprinter: {exc}", file=sys.stderr)
        return 1
    print(
        f"Connected the YouTube channel {account.channel_title} ({account.channel_id}) as "
        f"account {account.id}."
    )
    return 0
