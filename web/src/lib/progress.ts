/** A job's events → the progress of each pipeline stage, for the bars on the job page. */

import type { JobEvent } from "../api/types";

/** Where each stage starts in the job's overall progress (worker/pipeline/run.py START). */
export const STAGE_STARTS: ReadonlyArray<readonly [string, number]> = [
  ["script", 0.0],
  ["voice", 0.05],
  ["terms", 0.2],
  ["footage", 0.22],
  ["subtitles", 0.35],
  ["render", 0.37],
  ["metadata", 0.95],
  ["qa", 0.97],
];
export const STAGES = STAGE_STARTS.map(([name]) => name);
/** The stage a job asked for review reports once its plan is made (it then awaits review). */
export const REVIEW_STAGE = "review";

export type StageStatus = "pending" | "active" | "done" | "failed" | "stopped";

export interface StageProgress {
  stage: string;
  fraction: number; // 0..1
  status: StageStatus;
}

export interface JobProgress {
  overall: number; // 0..1
  state: string;
  stage: string | null;
  stages: StageProgress[];
}

interface JobSnapshot {
  state: string;
  stage: string | null;
  progress: number;
}

const clamp01 = (value: number) => Math.min(Math.max(value, 0), 1);

/** The events of the latest attempt: everything after the last `running` state event (a retry
 * starts the pipeline again from the first stage). */
export function latestAttempt(events: readonly JobEvent[]): JobEvent[] {
  let start = 0;
  events.forEach((event, index) => {
    if (event.type === "state" && event.payload?.state === "running") start = index + 1;
  });
  return events.slice(start);
}

/** The job's state as the events tell it (the last state or retry event), else the job's. */
export function stateFromEvents(events: readonly JobEvent[], fallback: string): string {
  for (let index = events.length - 1; index >= 0; index -= 1) {
    const event = events[index];
    const state = event.payload?.state;
    if ((event.type === "state" || event.type === "retry") && typeof state === "string")
      return state;
  }
  return fallback;
}

/** Per-stage progress from the events (stage and progress payloads) and the job row; the job
 * row fills in when the events say nothing yet (events pruned, or none arrived). */
export function computeProgress(events: readonly JobEvent[], job: JobSnapshot): JobProgress {
  const state = stateFromEvents(events, job.state);
  let stage: string | null = null;
  let overall = 0;
  for (const event of latestAttempt(events)) {
    const payload = event.payload ?? {};
    if (typeof payload.stage === "string" && payload.stage) stage = payload.stage;
    if (typeof payload.progress === "number") overall = Math.max(overall, payload.progress);
  }
  if (stage === null && state !== "queued" && job.stage) {
    stage = job.stage;
    overall = job.progress;
  }
  if (state === "queued") {
    stage = null;
    overall = 0;
  }
  if (state === "completed") overall = 1;
  overall = clamp01(overall);
  // A plan made for review has done every stage before the subtitles (timed at the render).
  const planned = stage === REVIEW_STAGE;
  const current = planned ? STAGES.indexOf("subtitles") : stage === null ? -1 : STAGES.indexOf(stage);
  const stages = STAGE_STARTS.map(([name, start], index): StageProgress => {
    const end = index + 1 < STAGE_STARTS.length ? STAGE_STARTS[index + 1][1] : 1;
    if (state === "completed") return { stage: name, fraction: 1, status: "done" };
    if (current < 0 || index > current || (planned && index === current))
      return { stage: name, fraction: 0, status: "pending" };
    if (index < current) return { stage: name, fraction: 1, status: "done" };
    const fraction = clamp01((overall - start) / (end - start));
    const status: StageStatus =
      state === "failed" ? "failed" : state === "cancelled" ? "stopped" : "active";
    return { stage: name, fraction, status };
  });
  return { overall, state, stage, stages };
}

/** Merge newly arrived events into the list: by id, in order, without duplicates (a resumed
 * stream or an overlapping poll can send an event twice). */
export function mergeEvents(known: readonly JobEvent[], incoming: readonly JobEvent[]): JobEvent[] {
  if (incoming.length === 0) return known as JobEvent[];
  const byId = new Map(known.map((event) => [event.id, event]));
  for (const event of incoming) byId.set(event.id, event);
  return [...byId.values()].sort((a, b) => a.id - b.id);
}

export const lastEventId = (events: readonly JobEvent[]) =>
  events.length ? events[events.length - 1].id : 0;
