"""`python -m bench.queue.stamp_worker [--concurrency N]`: `moneyprinter worker` plus the
benchmark's `stamp` job kind, which appends "job id, start wall clock, payload's t" to
$BENCH_LAT_FILE."""

from __future__ import annotations

import os
import sys
import time

from worker import cli
from worker.kinds import in_loop_kind
from worker.runner import RunningJob

LAT_FILE = os.environ.get("BENCH_LAT_FILE", "/tmp/moneyprinter_lat.txt")


@in_loop_kind("stamp")
async def stamp(job: RunningJob) -> None:
    started = time.time()  # first thing in the body: the pickup ends here
    _append(f"{job.id} {started:.6f} {float(job.payload['t']):.6f}\n")


def _append(line: str) -> None:
    # A blocking append of one line (microseconds), as the peer's `stamp` does.
    with open(LAT_FILE, "a") as fh:
        fh.write(line)


if __name__ == "__main__":
    sys.exit(cli.main(["worker", *sys.argv[1:]]))
