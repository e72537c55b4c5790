/** Follow a job's events: the server-sent stream (resumable, `Last-Event-ID`), or, when the
 * browser's EventSource fails, polling /api/jobs/{id}/events?after=N and /api/jobs/{id}. */

import { ApiError } from "../api/client";
import { eventStreamUrl, listEvents } from "../api/events";
import { getJob } from "../api/jobs";
import type { EventList, Job, JobEvent } from "../api/types";
import { SETTLED_STATES } from "./states";

export const EVENT_TYPES = ["log", "stage", "progress", "state", "retry", "artifact"] as const;
export const POLL_INTERVAL_MS = 1000;
// Errors in a row, with no message between them, before the stream is given up for polling: a
// proxy that buffers or cuts the stream makes EventSource reconnect forever.
const MAX_STREAM_ERRORS = 3;

export type FollowMode = "stream" | "polling";

export interface FollowHandlers {
  onEvents(events: JobEvent[]): void;
  onEnd(state: string): void;
  onMode?(mode: FollowMode): void;
  onError?(message: string): void;
}

export interface FollowOptions {
  after?: number;
  EventSourceImpl?: typeof EventSource | undefined;
  pollIntervalMs?: number;
  fetchEvents?: (jobId: string, after: number) => Promise<Pick<EventList, "events" | "lastEventId">>;
  fetchJob?: (jobId: string) => Promise<Pick<Job, "state">>;
  streamUrl?: (jobId: string, after: number) => Promise<string>;
}

/** Start following; returns the function that stops. */
export function followJob(jobId: string, handlers: FollowHandlers, options: FollowOptions = {}): () => void {
  const Source =
    "EventSourceImpl" in options
      ? options.EventSourceImpl
      : typeof EventSource === "undefined"
        ? undefined
        : EventSource;
  let after = options.after ?? 0;
  let stopped = false;
  let source: EventSource | null = null;
  let timer: ReturnType<typeof setTimeout> | null = null;

  const deliver = (events: JobEvent[]) => {
    const fresh = events.filter((event) => event.id > after);
    if (fresh.length === 0) return;
    after = fresh[fresh.length - 1].id;
    handlers.onEvents(fresh);
  };

  const finish = (state: string) => {
    stop();
    handlers.onEnd(state);
  };

  const poll = async () => {
    if (stopped) return;
    try {
      const page = await (options.fetchEvents ?? listEvents)(jobId, after);
      if (stopped) return;
      deliver(page.events);
      // The state after the events: a final state read now has its event in the next page.
      if (page.events.length === 0) {
        const job = await (options.fetchJob ?? getJob)(jobId);
        if (stopped) return;
        if (SETTLED_STATES.has(job.state)) {
          const last = await (options.fetchEvents ?? listEvents)(jobId, after);
          if (stopped) return;
          deliver(last.events);
          finish(job.state);
          return;
        }
      }
    } catch (error) {
      handlers.onError?.(error instanceof Error ? error.message : String(error));
      if (error instanceof ApiError && error.httpStatus === 404) {
        stop(); // no such job (or it was deleted): nothing more will come
        return;
      }
    }
    if (!stopped) timer = setTimeout(poll, options.pollIntervalMs ?? POLL_INTERVAL_MS);
  };

  const startPolling = () => {
    source?.close();
    source = null;
    handlers.onMode?.("polling");
    void poll();
  };

  // Errors in a row without a message, across the streams opened for one follow.
  let errors = 0;
  const startStream = async (EventSourceClass: typeof EventSource) => {
    handlers.onMode?.("stream");
    const url = await (options.streamUrl ?? eventStreamUrl)(jobId, after);
    if (stopped) return;
    const stream = new EventSourceClass(url);
    source = stream;
    // Whether this stream was ever answered: a reconnect refused afterwards is most likely its
    // URL token expired (EventSource reconnects to the same address), so a fresh URL may work.
    let opened = false;
    stream.onopen = () => {
      opened = true;
    };
    const onMessage = (message: MessageEvent<string>) => {
      errors = 0;
      try {
        deliver([JSON.parse(message.data) as JobEvent]);
      } catch {
        // a malformed message: skip it, the next one carries on
      }
    };
    for (const type of [...EVENT_TYPES, "message"]) stream.addEventListener(type, onMessage as EventListener);
    stream.addEventListener("end", ((message: MessageEvent<string>) => {
      let state = "completed";
      try {
        state = (JSON.parse(message.data) as { state: string }).state;
      } catch {
        // keep the default
      }
      finish(state);
    }) as EventListener);
    stream.onerror = () => {
      if (stopped || source !== stream) return;
      errors += 1;
      // CLOSED: the browser gave up (an error status, not an event stream); it retries by itself
      // otherwise, sending Last-Event-ID, unless the errors keep coming.
      if (errors >= MAX_STREAM_ERRORS) startPolling();
      else if (stream.readyState === EventSourceClass.CLOSED) {
        if (!opened) startPolling();
        else {
          stream.close();
          void startStream(EventSourceClass);
        }
      }
    };
  };

  function stop() {
    stopped = true;
    source?.close();
    source = null;
    if (timer !== null) clearTimeout(timer);
  }

  if (Source) void startStream(Source);
  else startPolling();
  return stop;
}
