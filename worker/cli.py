"""The `moneyprinter` command: one parser for two kinds of commands.

- Server commands run the service here: `serve`, `worker`, `prune` (worker/commands.py), `api`,
  `migrate`, `storage`, `webhooks`, `youtube` (app/commands.py) and `render`
  (worker/render_command.py). They read the
  service's settings (app/settings.py).
- Client commands talk to a running server over HTTP: `generate`, `jobs`, `cancel`, `retry`
  (app/client/commands.py). They read only the server's address and API key
  (app/client/config.py).

The service's heavy modules (FastAPI, Alembic, SQLAlchemy, the pipeline) are imported by the
commands that run them, not here: a client command starts in a fraction of the time.
"""

from __future__ import annotations

import argparse
import logging
import sys

from pydantic import AliasChoices, ValidationError
from pydantic_settings import BaseSettings

from app import commands as api_commands
from app.client import commands as client_commands
from app.commands import LOG_FORMAT
from app.crypto import SecretKeyError
from worker import commands as worker_commands
from worker import render_command

EXIT_BAD_CONFIG = 2
SERVER_COMMANDS = "serve, api, worker, migrate, prune, render, storage, webhooks, youtube"
CLIENT_COMMANDS = "generate, jobs, cancel, retry"


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format=LOG_FORMAT, stream=sys.stderr)
    # httpx logs each request's full URL at INFO; a query string can carry an API key.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    config: type[BaseSettings] = args.config
    try:
        settings = config()
    except ValidationError as exc:
        print(describe_config_error(exc, config), file=sys.stderr)
        return EXIT_BAD_CONFIG
    try:
        code: int = args.command(args, settings)
    except SecretKeyError as exc:
        print(f"moneyprinter: {exc}", file=sys.stderr)
        return EXIT_BAD_CONFIG
    return code


def describe_config_error(error: ValidationError, config: type[BaseSettings]) -> str:
    """Each problem as `VARIABLE: what is wrong`, never the value: a misplaced API key must not
    end up in a terminal or a log (pydantic's own text repeats every input)."""
    lines = ["moneyprinter: bad configuration:"]
    for problem in error.errors(include_url=False, include_input=False, include_context=False):
        message = str(problem["msg"]).removeprefix("Value error, ")
        field = str(problem["loc"][0]) if problem["loc"] else ""
        lines.append(f"  {env_names(config, field)}: {message}" if field else f"  {message}")
    return "\n".join(lines)


def env_names(config: type[BaseSettings], field: str) -> str:
    """The environment variable(s) a settings field is read from, as a user would set them."""
    info = config.model_fields.get(field)
    if info is None:  # pydantic names a field by the alias it was read under
        return field.upper()
    alias = info.validation_alias
    if isinstance(alias, AliasChoices):
        names = [str(choice) for choice in alias.choices if str(choice).isupper()]
        if names:
            return " or ".join(names)
    prefix = str(config.model_config.get("env_prefix", ""))
    return f"{prefix}{field}".upper()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="moneyprinter",
        description="Turn a topic into a short vertical video.",
        epilog=f"server commands: {SERVER_COMMANDS}; "
        f"client commands (to a running server): {CLIENT_COMMANDS}",
    )
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning"])
    commands = parser.add_subparsers(required=True, metavar="command")
    worker_commands.add_parsers(commands)
    api_commands.add_parsers(commands)
    render_command.add_parser(commands)
    client_commands.add_parsers(commands)
    return parser


if __name__ == "__main__":
    sys.exit(main())
