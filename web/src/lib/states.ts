/** The job states: all of them in the order the pages list them, and the final ones. */
import type { JobState } from "../api/types";

// A record rather than a list, so a state the API adds or drops fails the type check here.
const LISTED = {
  queued: true,
  running: true,
  awaiting_review: true,
  completed: true,
  failed: true,
  cancelled: true,
} satisfies Record<JobState, true>;

export const JOB_STATES = Object.keys(LISTED) as JobState[];

/** The states a job never leaves (the API's `state` is a plain string, hence the string set). */
export const TERMINAL_STATES: ReadonlySet<string> = new Set([
  "completed",
  "failed",
  "cancelled",
] satisfies JobState[]);

export const isJobState = (value: string): value is JobState =>
  (JOB_STATES as string[]).includes(value);

/** The states no worker will change: ended, or waiting for a person (review). A job's events
 * stop there. */
export const SETTLED_STATES: ReadonlySet<string> = new Set([...TERMINAL_STATES, "awaiting_review"]);
