/** A job's events: a page of them after a given id, and the server-sent stream's address. */
import { getJson } from "./client";
import { jobPath } from "./jobs";
import { signedUrl } from "./tokens";
import type { EventList } from "./types";

export const listEvents = (jobId: string, after: number) =>
  getJson<EventList>(`${jobPath(jobId)}/events?after=${after}`);

/** The stream of the events after `after`, with a token of the job when a key is set (EventSource
 * sends no headers); EventSource resumes it with `Last-Event-ID`. */
export const eventStreamUrl = (jobId: string, after: number) =>
  signedUrl(`${jobPath(jobId)}/stream?after=${after}`, jobPath(jobId));
