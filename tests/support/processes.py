"""What the tests that start real `moneyprinter` processes share: a free port, and the command."""

from __future__ import annotations

import socket
import sys
from pathlib import Path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def moneyprinter_command() -> list[str]:
    """The venv's `moneyprinter` script, or `python -m worker.cli` where it is not installed."""
    script = Path(sys.executable).with_name("moneyprinter")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "worker.cli"]
