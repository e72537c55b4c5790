"""Make a video through MoneyPrinter's HTTP API with plain httpx: queue, poll the events, download.

    .venv/bin/python examples/generate_with_httpx.py "Why octopuses are smart" \\
        --script "Octopuses have three hearts. Each arm can taste what it touches." -o octopus.mp4

Needs only httpx and a running server (`moneyprinter serve`). `moneyprinter generate` does the
same with a progress bar, and follows the server-sent event stream instead of polling.
"""

from __future__ import annotations

import argparse
import sys
import time

import httpx

FINAL_STATES = {"completed", "failed", "cancelled"}
POLL_INTERVAL_S = 1.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("subject")
    parser.add_argument("--script", help="the narration (default: the server's LLM writes it)")
    parser.add_argument("--quality", default="draft", choices=["draft", "standard", "high"])
    parser.add_argument("--url", default="http://127.0.0.1:8080")
    parser.add_argument("--api-key", default="", help="when the server has one")
    parser.add_argument("-o", "--output", default="video.mp4")
    args = parser.parse_args()

    headers = {"X-API-Key": args.api_key} if args.api_key else {}
    with httpx.Client(base_url=args.url, headers=headers, timeout=30.0) as client:
        # 1. Queue the job. Fields are the API's camelCase names; errors come as
        #    {"status": "error", "message": "..."} with a 4xx status.
        request = {"videoSubject": args.subject, "quality": args.quality}
        if args.script:
            request["script"] = args.script
        response = client.post("/api/generate", json=request)
        if response.is_error:
            print(f"refused: {response.json()['message']}", file=sys.stderr)
            return 1
        job_id = response.json()["jobId"]
        print(f"queued {job_id}")

        # 2. Poll the events: each page holds the events after `after`, oldest first, and
        #    `lastEventId` to pass as the next `after`. A `state` event carries the job's state.
        after, state = 0, "queued"
        while state not in FINAL_STATES:
            page = client.get(f"/api/jobs/{job_id}/events", params={"after": after}).json()
            for event in page["events"]:
                print(f"  {event['type']:<8} {event['message']}")
                if event["type"] == "state":
                    state = event["payload"]["state"]
            after = page["lastEventId"]
            if not page["events"]:
                time.sleep(POLL_INTERVAL_S)

        if state != "completed":
            job = client.get(f"/api/jobs/{job_id}").json()["job"]
            print(f"job {state}: {job['errorMessage']}", file=sys.stderr)
            return 1

        # 3. Download the MP4 (the route also answers HTTP Range requests).
        with client.stream("GET", f"/api/jobs/{job_id}/video") as video:
            video.raise_for_status()
            with open(args.output, "wb") as file:
                for chunk in video.iter_bytes():
                    file.write(chunk)
    print(f"saved {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
