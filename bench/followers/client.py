"""Many followers of jobs' event streams, in one process: raw HTTP/1.1 over asyncio sockets, so
the clients cost little next to the server they load.

Run by `bench.followers`: `python -m bench.followers.client PORT JOB_ID[,JOB_ID…] COUNT`. It
opens COUNT streams spread over the jobs, prints `ready <opened> <refused>` once every stream
has answered, reads each until `event: end`, then prints one JSON line of what it saw.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time

OPENING_AT_ONCE = 100
END_MARK = b"event: end"


async def follow(port: int, job_id: str, answered: asyncio.Future[int]) -> dict[str, int | bool]:
    """One stream until its end; `answered` gets the status as soon as it has come."""
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(
            f"GET /api/jobs/{job_id}/stream HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            "Accept: text/event-stream\r\n\r\n".encode()
        )
        status = int((await reader.readline()).split()[1])
    except BaseException as exc:
        answered.set_exception(exc)
        raise
    answered.set_result(status)
    events = 0
    ended = False
    tail = b""
    if status == 200:
        while chunk := await reader.read(65536):
            seen = tail + chunk
            events += seen.count(b"\nid: ") - tail.count(b"\nid: ")
            if END_MARK in seen:
                ended = True
                break
            tail = seen[-len(END_MARK) :]
    writer.close()
    return {"status": status, "events": events, "ended": ended}


async def main(port: int, job_ids: list[str], count: int) -> None:
    gate = asyncio.Semaphore(OPENING_AT_ONCE)
    loop = asyncio.get_running_loop()

    async def one(n: int) -> tuple[asyncio.Future[int], asyncio.Task[dict[str, int | bool]]]:
        async with gate:  # no more than this many connecting at once (the listen backlog)
            answered: asyncio.Future[int] = loop.create_future()
            task = asyncio.create_task(follow(port, job_ids[n % len(job_ids)], answered))
            await asyncio.wait([answered])
        return answered, task

    started = time.monotonic()
    streams = await asyncio.gather(*(one(n) for n in range(count)))
    opened = sum(not a.exception() and a.result() == 200 for a, _ in streams)
    print(f"ready {opened} {count - opened} {time.monotonic() - started:.2f}", flush=True)
    results = await asyncio.gather(*(task for _, task in streams), return_exceptions=True)
    done = [result for result in results if isinstance(result, dict) and result["status"] == 200]
    print(
        json.dumps(
            {
                "opened": opened,
                "refused": count - opened,
                "ended": sum(bool(result["ended"]) for result in done),
                "events_min": min((int(result["events"]) for result in done), default=0),
                "errors": [repr(r) for r in results if isinstance(r, BaseException)][:5],
                "cpu_s": sum(os.times()[:2]),
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), sys.argv[2].split(","), int(sys.argv[3])))
