"""The `moneyprinter` command: serve (API + worker), api, worker, migrate, prune, render, and the
API's client (generate, jobs, cancel, retry).

The service's modules (FastAPI, Alembic, the worker, the pipeline) are imported by the commands
that run them, not here: a client command then starts in a fraction of the time.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import socket
import sys
from collections.abc import Callable, Iterator
from typing import Any

import uvicorn
from pydantic import ValidationError

from app.settings import Settings
from worker import client_commands, render_command

logger = logging.getLogger("worker.cli")

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
# How long the HTTP side waits for open requests (a client following a stream) at shutdown.
HTTP_SHUTDOWN_TIMEOUT_S = 5
WORKER_HEALTHCHECK_TIMEOUT_S = 30
EXIT_BAD_CONFIG = 2
LOG_FORMAT = "%(asctime)s %(levelname)s [%(name)s] %(message)s"


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        format=LOG_FORMAT,
        stream=sys.stderr,
    )
    # httpx logs each request's full URL at INFO; a query string can carry an API key.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    try:
        settings = Settings()
    except ValidationError as exc:
        print(f"moneyprinter: bad configuration: {exc}", file=sys.stderr)
        return EXIT_BAD_CONFIG
    command: Callable[[argparse.Namespace, Settings], int] = args.command
    return command(args, settings)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="moneyprinter", description="Turn a topic into a short vertical video."
    )
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning"])
    commands = parser.add_subparsers(required=True, metavar="command")

    serve = commands.add_parser("serve", help="the API and one worker in one process")
    _add_http_options(serve)
    _add_concurrency(serve)
    serve.add_argument("--no-migrate", action="store_true", help="skip the database migration")
    serve.set_defaults(command=serve_command)

    api = commands.add_parser("api", help="the API alone (workers run elsewhere)")
    _add_http_options(api)
    api.add_argument(
        "--workers",
        type=_positive_int,
        default=1,
        help="API processes sharing the port (default 1); on Postgres, one per core; on SQLite "
        "keep 1 (processes would queue for the database file's lock by sleeping)",
    )
    api.set_defaults(command=api_command)

    worker = commands.add_parser("worker", help="a worker alone")
    _add_concurrency(worker)
    worker.set_defaults(command=worker_command)

    migrate = commands.add_parser("migrate", help="bring the database to the newest schema")
    migrate.set_defaults(command=migrate_command)

    prune = commands.add_parser(
        "prune", help="delete finished jobs older than the retention age, with their files, now"
    )
    prune.add_argument(
        "--older-than-days",
        type=_positive_days,
        help="the age in days (default: settings, MONEYPRINTER_RETENTION_DAYS)",
    )
    prune.set_defaults(command=prune_command)

    render_command.add_parser(commands)
    client_commands.add_parsers(commands)
    return parser


def _add_http_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", help="address to listen on (default: settings, 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port (default: settings, 8080)")


def _add_concurrency(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--concurrency", type=int, help="jobs at once (default: settings, 1)")


def _positive_int(text: str) -> int:
    try:
        number = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return number


def _positive_days(text: str) -> float:
    try:
        days = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of days: {text!r}") from None
    if not days > 0:  # also refuses nan
        raise argparse.ArgumentTypeError("must be more than 0 days")
    return days


# -- commands ----------------------------------------------------------------------------------


def serve_command(args: argparse.Namespace, settings: Settings) -> int:
    from app.db.migrations import upgrade_to_head

    if not args.no_migrate:
        upgrade_to_head(settings.resolved_database_url)  # synchronous: runs its own event loop
    return asyncio.run(
        serve(
            settings,
            host=args.host or settings.host,
            port=args.port or settings.port,
            concurrency=args.concurrency,
        )
    )


def api_command(args: argparse.Namespace, settings: Settings) -> int:
    from app.main import create_app

    host, port = args.host or settings.host, args.port or settings.port
    if args.workers > 1:
        # Each worker is a fresh (spawned) process: it builds its own app from the same
        # environment, and sets up logging from this dict (it inherits no handlers from here).
        uvicorn.run(
            "app.main:create_app",
            factory=True,
            workers=args.workers,
            host=host,
            port=port,
            timeout_graceful_shutdown=HTTP_SHUTDOWN_TIMEOUT_S,
            # A worker answers the supervisor's health check only once it has imported the app:
            # on a busy host that takes longer than uvicorn's 5 s, and it would be restarted.
            timeout_worker_healthcheck=WORKER_HEALTHCHECK_TIMEOUT_S,
            log_config=logging_config(args.log_level),
        )
        return 0
    uvicorn.run(
        create_app(settings),
        host=host,
        port=port,
        timeout_graceful_shutdown=HTTP_SHUTDOWN_TIMEOUT_S,
        log_config=None,  # uvicorn's records go through the root logger, in our format
    )
    return 0


def logging_config(level: str) -> dict[str, Any]:
    """What main() sets up, as a `logging.config.dictConfig` dict (for uvicorn's workers)."""
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


def worker_command(args: argparse.Namespace, settings: Settings) -> int:
    asyncio.run(run_worker(settings, concurrency=args.concurrency))
    return 0


def migrate_command(_args: argparse.Namespace, settings: Settings) -> int:
    from app.db.migrations import upgrade_to_head

    upgrade_to_head(settings.resolved_database_url)
    logger.info("database is at the newest schema")
    return 0


def prune_command(args: argparse.Namespace, settings: Settings) -> int:
    if args.older_than_days is not None:
        settings = settings.model_copy(update={"retention_days": args.older_than_days})
    if settings.retention_days <= 0:
        print("Retention is off (MONEYPRINTER_RETENTION_DAYS=0): nothing pruned.")
        return 0
    pruned = asyncio.run(run_prune(settings))
    print(f"Pruned {pruned} finished job(s) older than {settings.retention_days:g} day(s).")
    return 0


# -- event loops -------------------------------------------------------------------------------


async def run_worker(settings: Settings, *, concurrency: int | None) -> None:
    from app.db.session import create_engine, create_sessionmaker
    from worker.main import Worker

    engine = create_engine(settings.resolved_database_url)
    try:
        worker = Worker(settings, create_sessionmaker(engine), concurrency=concurrency)
        install_stop_handlers(worker.stop, lambda: worker.stop(now=True))
        await worker.run()
    finally:
        await engine.dispose()


async def run_prune(settings: Settings) -> int:
    from app.db.session import create_engine, create_sessionmaker
    from worker.retention import prune_expired

    engine = create_engine(settings.resolved_database_url)
    try:
        return await prune_expired(create_sessionmaker(engine), settings)
    finally:
        await engine.dispose()


async def serve(settings: Settings, *, host: str, port: int, concurrency: int | None) -> int:
    """uvicorn and a Worker in one event loop; a queued job wakes the worker at once. Returns the
    exit code."""
    from app.db.session import create_engine, create_sessionmaker
    from app.main import create_app
    from worker.main import Worker

    wake = asyncio.Event()
    app = create_app(settings, on_job_queued=wake.set)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        timeout_graceful_shutdown=HTTP_SHUTDOWN_TIMEOUT_S,
        log_config=None,  # uvicorn's records go through the root logger, in our format
    )
    server = _Server(config)
    engine = create_engine(settings.resolved_database_url)
    worker = Worker(settings, create_sessionmaker(engine), concurrency=concurrency, wake_event=wake)

    def stop() -> None:
        server.should_exit = True
        worker.stop()

    def stop_now() -> None:
        server.force_exit = True
        server.should_exit = True
        worker.stop(now=True)

    install_stop_handlers(stop, stop_now)
    try:
        http = asyncio.create_task(server.serve_until_done())
        # The worker starts once the server listens: a server that cannot start (port in use)
        # must not leave claimed jobs behind.
        listening = asyncio.create_task(server.listening.wait())
        await asyncio.wait({http, listening}, return_when=asyncio.FIRST_COMPLETED)
        listening.cancel()
        if http.done():
            return http.result()
        work = asyncio.create_task(worker.run())
        await asyncio.wait({http, work}, return_when=asyncio.FIRST_COMPLETED)
        stop()  # one side ended (a signal, or a failure): end the other
        await work
        return await http
    finally:
        await engine.dispose()


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: the CLI's handlers stop server and worker together
    (uvicorn's would also re-raise the signal after shutdown)."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.listening = asyncio.Event()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        self.listening.set()

    async def serve_until_done(self) -> int:
        """serve(), with uvicorn's `sys.exit` on a failed start turned into an exit code."""
        try:
            await self.serve()
        except SystemExit as exc:
            return exc.code if isinstance(exc.code, int) else 1
        return 0


def install_stop_handlers(first: Callable[[], None], again: Callable[[], None]) -> None:
    """SIGTERM/SIGINT: the first stops gracefully, a second one stops at once."""
    loop = asyncio.get_running_loop()
    received: list[int] = []

    def handle(signum: int) -> None:
        received.append(signum)
        name = signal.Signals(signum).name
        if len(received) == 1:
            logger.info("%s: stopping; running jobs get the grace period (again: at once)", name)
            first()
        else:
            logger.info("%s again: stopping at once; running jobs go back to the queue", name)
            again()

    for signum in STOP_SIGNALS:
        loop.add_signal_handler(signum, handle, signum)


if __name__ == "__main__":
    sys.exit(main())
