import { beforeEach, describe, expect, it, vi } from "vitest";
import { followJob } from "./follow";
import type { JobEvent } from "../api/types";

const event = (id: number, type = "log", payload: Record<string, unknown> | null = null): JobEvent => ({
  id, type, level: "info", message: `event ${id}`, payload, createdAt: "2026-01-01T00:00:00Z", timestamp: 1767225600,
});

/** Enough of EventSource to drive followJob: named listeners, onerror, readyState. */
class FakeSource {
  static CONNECTING = 0;
  static OPEN = 1;
  static CLOSED = 2;
  static last: FakeSource | null = null;
  readyState = FakeSource.OPEN;
  onerror: (() => void) | null = null;
  onopen: (() => void) | null = null;
  listeners = new Map<string, ((message: { data: string }) => void)[]>();
  constructor(readonly url: string) {
    FakeSource.last = this;
  }
  addEventListener(type: string, listener: (message: { data: string }) => void) {
    this.listeners.set(type, [...(this.listeners.get(type) ?? []), listener]);
  }
  close() {
    this.readyState = FakeSource.CLOSED;
  }
  emit(type: string, data: unknown) {
    for (const listener of this.listeners.get(type) ?? []) listener({ data: JSON.stringify(data) });
  }
}

const asEventSource = FakeSource as unknown as typeof EventSource;

/** The stream followJob opens next (its address is asked for first, asynchronously). */
async function nextSource(previous: FakeSource | null = null): Promise<FakeSource> {
  await vi.waitFor(() => expect(FakeSource.last).not.toBe(previous));
  return FakeSource.last!;
}

beforeEach(() => {
  FakeSource.last = null;
});

describe("followJob", () => {
  it("streams from the last event seen and ends on `end`", async () => {
    const seen: number[] = [];
    const ended: string[] = [];
    followJob("job-1", { onEvents: (events) => seen.push(...events.map((e) => e.id)), onEnd: (s) => ended.push(s) },
      { after: 4, EventSourceImpl: asEventSource });
    const source = await nextSource();
    expect(source.url).toBe("/api/jobs/job-1/stream?after=4");
    source.emit("stage", event(5, "stage"));
    source.emit("stage", event(5, "stage")); // a resumed stream repeats nothing twice
    source.emit("state", event(6, "state", { state: "completed" }));
    source.emit("end", { state: "completed" });
    expect(seen).toEqual([5, 6]);
    expect(ended).toEqual(["completed"]);
    expect(source.readyState).toBe(FakeSource.CLOSED);
  });

  it("polls events and the job when the stream is refused", async () => {
    vi.useFakeTimers();
    const modes: string[] = [];
    const seen: number[] = [];
    const ended: string[] = [];
    const pages = [[event(1), event(2)], [], [event(3, "state", { state: "completed" })], []];
    const fetchEvents = vi.fn(async (_id: string, after: number) => {
      const events = (pages.shift() ?? []).filter((e) => e.id > after);
      return { events, lastEventId: events.length ? events[events.length - 1].id : after };
    });
    const states = ["running", "completed"];
    const fetchJob = vi.fn(async () => ({ state: states.shift() ?? "completed" }) as { state: "running" });
    followJob("job-2", { onEvents: (events) => seen.push(...events.map((e) => e.id)), onEnd: (s) => ended.push(s), onMode: (m) => modes.push(m) },
      { EventSourceImpl: asEventSource, fetchEvents, fetchJob, pollIntervalMs: 10 });
    const source = await nextSource();
    source.readyState = FakeSource.CLOSED; // an HTTP error: the browser gives up
    source.onerror?.();
    await vi.runAllTimersAsync();
    vi.useRealTimers();
    expect(modes).toEqual(["stream", "polling"]);
    expect(seen).toEqual([1, 2, 3]);
    expect(ended).toEqual(["completed"]);
    expect(fetchEvents.mock.calls.map((call) => call[1])).toEqual([0, 2, 2, 3, 3]); // the last: events that came with the final state
  });

  it("opens a fresh stream (a new URL token) when a stream that worked is refused", async () => {
    const modes: string[] = [];
    const seen: number[] = [];
    let tokens = 0;
    const streamUrl = vi.fn(async (jobId: string, after: number) => `/api/jobs/${jobId}/stream?after=${after}&token=t${++tokens}`);
    const fetchEvents = vi.fn(async (_id: string, after: number) => ({ events: [], lastEventId: after }));
    const fetchJob = vi.fn(async () => ({ state: "running" }) as { state: "running" });
    const stop = followJob("job-4", { onEvents: (events) => seen.push(...events.map((e) => e.id)), onEnd: () => {}, onMode: (m) => modes.push(m) },
      { EventSourceImpl: asEventSource, streamUrl, fetchEvents, fetchJob, pollIntervalMs: 10 });
    const first = await nextSource();
    first.onopen?.();
    first.emit("log", event(7));
    first.readyState = FakeSource.CLOSED; // the browser's reconnect was refused: the token expired
    first.onerror?.();
    const second = await nextSource(first);
    expect(second.url).toBe("/api/jobs/job-4/stream?after=7&token=t2");
    second.emit("log", event(8));
    // Refused before it ever opened: no stream will do; poll instead.
    second.readyState = FakeSource.CLOSED;
    second.onerror?.();
    expect(seen).toEqual([7, 8]);
    expect(modes).toEqual(["stream", "stream", "polling"]);
    expect(streamUrl).toHaveBeenCalledTimes(2);
    await vi.waitFor(() => expect(fetchEvents).toHaveBeenCalledWith("job-4", 8));
    stop();
  });

  it("neither delivers nor ends when stopped while the final events are being fetched", async () => {
    let release: (page: { events: JobEvent[]; lastEventId: number }) => void = () => {};
    const fetchEvents = vi
      .fn()
      .mockResolvedValueOnce({ events: [], lastEventId: 0 })
      .mockImplementationOnce(() => new Promise((resolve) => (release = resolve)));
    const fetchJob = vi.fn(async () => ({ state: "completed" }) as { state: "completed" });
    const seen: number[] = [];
    const ended: string[] = [];
    const stop = followJob("job-3", { onEvents: (events) => seen.push(...events.map((e) => e.id)), onEnd: (s) => ended.push(s) },
      { EventSourceImpl: undefined, fetchEvents, fetchJob, pollIntervalMs: 10 });
    await vi.waitFor(() => expect(fetchEvents).toHaveBeenCalledTimes(2));
    stop();
    release({ events: [event(1, "state", { state: "completed" })], lastEventId: 1 });
    await new Promise((resolve) => setTimeout(resolve, 0));
    expect(seen).toEqual([]);
    expect(ended).toEqual([]);
  });
});
