/** The API's response shapes (app/schemas.py), as the browser reads them. */

export type JobState = "queued" | "running" | "completed" | "failed" | "cancelled";
export const JOB_STATES: JobState[] = ["queued", "running", "completed", "failed", "cancelled"];
export const TERMINAL_STATES: ReadonlySet<string> = new Set(["completed", "failed", "cancelled"]);

export interface Job {
  id: string;
  state: JobState;
  stage: string | null;
  progress: number;
  cancelRequested: boolean;
  attemptCount: number;
  maxAttempts: number;
  priority: number;
  projectId: number | null;
  videoSubject: string;
  resultPath: string | null;
  errorMessage: string | null;
  createdAt: string;
  startedAt: string | null;
  completedAt: string | null;
  updatedAt: string;
  payload: Record<string, unknown>;
}

export interface JobEvent {
  id: number;
  type: string;
  level: string;
  message: string;
  payload: Record<string, unknown> | null;
  timestamp: string;
}

export interface Artifact {
  id: number;
  kind: string;
  path: string;
  bytes: number;
  sha256: string;
  mime: string;
  media: Record<string, unknown> | null;
  url: string;
  createdAt: string;
}

export interface Voice {
  id: string;
  name: string;
  engine: string;
  language: string;
  default: boolean;
}

export interface Song {
  name: string;
  bytes: number;
  modifiedAt: string;
}

export interface Histogram {
  count: number;
  sumSeconds: number;
  p50Seconds: number | null;
  p95Seconds: number | null;
}

export interface Metrics {
  collectedAt: string;
  jobs: Record<JobState, number>;
  queued: { ready: number; scheduled: number; oldestReadyAgeSeconds: number };
  pickupLatency: Histogram;
  runTime: Histogram;
  retries: number;
  rescuedLeases: number;
  workers: { id: string; slots: number; busy: number; heartbeatAgeSeconds: number }[];
  busySlots: number;
  totalSlots: number;
  recent?: { windowSeconds: number; completed: number; failed: number; cancelled: number };
}

export type Ok<T> = T & { status: "success"; message?: string };
