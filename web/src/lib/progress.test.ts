import { describe, expect, it } from "vitest";
import { computeProgress, latestAttempt, mergeEvents, STAGES } from "./progress";
import type { JobEvent } from "../api/types";

let nextId = 1;
function event(type: string, payload: Record<string, unknown> | null): JobEvent {
  return { id: nextId++, type, level: "info", message: type, payload, createdAt: "2026-01-01T00:00:00Z", timestamp: 1767225600 };
}
const queuedJob = { state: "queued", stage: null, progress: 0 };

describe("computeProgress", () => {
  it("shows every stage pending while queued", () => {
    const progress = computeProgress([event("state", { state: "queued" })], queuedJob);
    expect(progress.overall).toBe(0);
    expect(progress.stages.map((s) => s.status)).toEqual(STAGES.map(() => "pending"));
  });

  it("fills the stages before the current one and part of the current one", () => {
    const events = [
      event("state", { state: "queued" }),
      event("state", { state: "running" }),
      event("stage", { stage: "script", progress: 0 }),
      event("stage", { stage: "voice", progress: 0.05 }),
      event("stage", { stage: "terms", progress: 0.2 }),
      event("stage", { stage: "footage", progress: 0.22 }),
      event("stage", { stage: "subtitles", progress: 0.35 }),
      event("stage", { stage: "render", progress: 0.37 }),
      event("progress", { stage: "render", progress: 0.66 }),
    ];
    const progress = computeProgress(events, queuedJob);
    expect(progress.state).toBe("running");
    expect(progress.stage).toBe("render");
    expect(progress.overall).toBeCloseTo(0.66);
    const byStage = Object.fromEntries(progress.stages.map((s) => [s.stage, s]));
    expect(byStage.script).toEqual({ stage: "script", fraction: 1, status: "done" });
    expect(byStage.subtitles.status).toBe("done");
    expect(byStage.render.status).toBe("active");
    expect(byStage.render.fraction).toBeCloseTo(0.5);
    expect(byStage.metadata).toEqual({ stage: "metadata", fraction: 0, status: "pending" });
  });

  it("shows a plan awaiting review with every stage before the subtitles done", () => {
    const events = [
      event("state", { state: "running" }),
      event("stage", { stage: "footage", progress: 0.22 }),
      event("stage", { stage: "review", progress: 0.37 }),
      event("state", { state: "awaiting_review" }),
    ];
    const progress = computeProgress(events, queuedJob);
    expect(progress.state).toBe("awaiting_review");
    expect(progress.stages.map((s) => s.status)).toEqual([
      "done", "done", "done", "done", "pending", "pending", "pending", "pending",
    ]);
  });

  it("fills everything once completed", () => {
    const events = [event("stage", { stage: "voice", progress: 0.1 }), event("state", { state: "completed" })];
    const progress = computeProgress(events, queuedJob);
    expect(progress.overall).toBe(1);
    expect(progress.stages.every((s) => s.fraction === 1 && s.status === "done")).toBe(true);
  });

  it("marks the stage that failed or was stopped", () => {
    const failed = computeProgress(
      [event("stage", { stage: "footage", progress: 0.22 }), event("state", { state: "failed", stage: "footage" })],
      queuedJob,
    );
    expect(failed.stages.find((s) => s.stage === "footage")?.status).toBe("failed");
    const cancelled = computeProgress(
      [event("stage", { stage: "voice", progress: 0.1 }), event("state", { state: "cancelled" })],
      queuedJob,
    );
    expect(cancelled.stages.find((s) => s.stage === "voice")?.status).toBe("stopped");
  });

  it("starts again from the first stage after a retry", () => {
    const events = [
      event("state", { state: "running" }),
      event("progress", { stage: "render", progress: 0.8 }),
      event("retry", { state: "queued" }),
      event("state", { state: "running" }),
      event("stage", { stage: "voice", progress: 0.05 }),
    ];
    expect(latestAttempt(events)).toHaveLength(1);
    const progress = computeProgress(events, queuedJob);
    expect(progress.stage).toBe("voice");
    expect(progress.overall).toBeCloseTo(0.05);
  });

  it("uses the job row when no event says where the job is", () => {
    const progress = computeProgress([], { state: "running", stage: "render", progress: 0.95 });
    expect(progress.stage).toBe("render");
    expect(progress.stages.find((s) => s.stage === "subtitles")?.status).toBe("done");
  });
});

describe("mergeEvents", () => {
  it("keeps each event once, in id order", () => {
    const a = { ...event("log", null), id: 1 };
    const b = { ...event("log", null), id: 2 };
    const c = { ...event("log", null), id: 3 };
    expect(mergeEvents([a, b], [b, c]).map((e) => e.id)).toEqual([1, 2, 3]);
    expect(mergeEvents([c], [a]).map((e) => e.id)).toEqual([1, 3]);
  });
});
