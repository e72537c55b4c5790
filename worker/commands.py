"""The server commands of the worker's side: `moneyprinter serve` (the API and a worker in one
process), `moneyprinter worker` (a worker alone) and `moneyprinter prune` (retention, now)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import socket
from collections.abc import Callable, Iterator

import uvicorn

from app.commands import Subparsers, add_http_options
from app.http_server import http_options
from app.settings import Settings

logger = logging.getLogger("moneyprinter")

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def add_parsers(commands: Subparsers) -> None:
    serve = commands.add_parser("serve", help="the API and one worker in one process")
    add_http_options(serve)
    _add_concurrency(serve)
    serve.add_argument("--no-migrate", action="store_true", help="skip the database migration")
    serve.set_defaults(command=serve_command, config=Settings)

    worker = commands.add_parser("worker", help="a worker alone")
    _add_concurrency(worker)
    worker.set_defaults(command=worker_command, config=Settings)

    prune = commands.add_parser(
        "prune", help="delete finished jobs older than the retention age, with their files, now"
    )
    prune.add_argument(
        "--older-than-days",
        type=_positive_days,
        help="the age in days (default: settings, MONEYPRINTER_RETENTION_DAYS)",
    )
    prune.set_defaults(command=prune_command, config=Settings)


def _add_concurrency(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--concurrency", type=int, help="jobs at once (default: settings, 1)")


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
        # Synchronous: runs its own event loop.
        upgrade_to_head(settings.resolved_direct_database_url)
    return asyncio.run(
        serve(
            settings,
            host=args.host or settings.host,
            port=args.port or settings.port,
            concurrency=args.concurrency,
        )
    )


def worker_command(args: argparse.Namespace, settings: Settings) -> int:
    asyncio.run(run_worker(settings, concurrency=args.concurrency))
    return 0


def prune_command(args: argparse.Namespace, settings: Settings) -> int:
    from worker.retention import prune_cache

    if args.older_than_days is not None:
        settings = settings.model_copy(update={"retention_days": args.older_than_days})
    removed = asyncio.run(prune_cache(settings))  # with or without retention
    print(f"Removed {removed} file(s) from the cache ({settings.cache_dir}).")
    if settings.retention_days <= 0:
        print("Retention is off (MONEYPRINTER_RETENTION_DAYS=0): no job pruned.")
        return 0
    pruned = asyncio.run(run_prune(settings))
    print(f"Pruned {pruned} finished job(s) older than {settings.retention_days:g} day(s).")
    return 0


# -- event loops ------------------------------------------------------------------------------


async def run_worker(settings: Settings, *, concurrency: int | None) -> None:
    from app.db.session import create_sessionmaker, settings_engine
    from worker.main import Worker

    engine = settings_engine(settings)
    try:
        worker = Worker(
            settings,
            create_sessionmaker(engine, webhook_endpoints=settings.webhook_urls),
            concurrency=concurrency,
        )
        install_stop_handlers(worker.stop, lambda: worker.stop(now=True))
        await worker.run()
    finally:
        await engine.dispose()


async def run_prune(settings: Settings) -> int:
    from app.db.session import create_sessionmaker, settings_engine
    from worker.retention import prune_expired

    engine = settings_engine(settings)
    try:
        return await prune_expired(create_sessionmaker(engine), settings)
    finally:
        await engine.dispose()


async def serve(settings: Settings, *, host: str, port: int, concurrency: int | None) -> int:
    """uvicorn and a Worker in one event loop; a queued job wakes the worker at once. Returns the
    exit code."""
    from app.db.session import create_sessionmaker, settings_engine
    from app.main import create_app
    from worker.main import Worker

    wake = asyncio.Event()
    # The app's Host and CORS defaults depend on the address it listens on: --host's, if given.
    app = create_app(settings.model_copy(update={"host": host}), on_job_queued=wake.set)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_config=None,  # uvicorn's records go through the root logger, in our format
        **http_options(settings),
    )
    server = _Server(config)
    engine = settings_engine(settings)
    worker = Worker(
        settings,
        create_sessionmaker(engine, webhook_endpoints=settings.webhook_urls),
        concurrency=concurrency,
        wake_event=wake,
    )

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
