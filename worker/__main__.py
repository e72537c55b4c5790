"""`python -m worker`: the same as `moneyprinter worker` (options: --concurrency N)."""

from __future__ import annotations

import sys

from worker.cli import main

if __name__ == "__main__":
    sys.exit(main(["worker", *sys.argv[1:]]))
