/** Jobs: queue one, list and read them, cancel and retry, and a finished job's files. */
import { getJson, postJson } from "./client";
import type {
  ArtifactList,
  CancelResponse,
  GenerateBody,
  GenerateResponse,
  JobListQuery,
  JobPage,
  JobResponse,
  RetryResponse,
} from "./types";

/** A job's own path; the events module builds on it too. */
export const jobPath = (jobId: string) => `/api/jobs/${encodeURIComponent(jobId)}`;

/** Where the finished video plays from. */
export const videoUrl = (jobId: string) => `${jobPath(jobId)}/video`;

export const generate = (body: GenerateBody) => postJson<GenerateResponse>("/api/generate", body);

/** GET /api/jobs, newest first; the query's unset filters are left out. */
export function listJobs(query: JobListQuery): Promise<JobPage> {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) {
    if (value !== undefined && value !== null) params.set(name, String(value));
  }
  const search = params.toString();
  return getJson<JobPage>(search ? `/api/jobs?${search}` : "/api/jobs");
}

/** The job and its uploads to YouTube (`publications`: a video job's, or a publish job's own). */
export const getJobDetail = (jobId: string) => getJson<JobResponse>(jobPath(jobId));

export const getJob = async (jobId: string) => (await getJobDetail(jobId)).job;

export const cancelJob = (jobId: string) => postJson<CancelResponse>(`${jobPath(jobId)}/cancel`);

export const retryJob = (jobId: string) => postJson<RetryResponse>(`${jobPath(jobId)}/retry`);

export const listArtifacts = async (jobId: string) =>
  (await getJson<ArtifactList>(`${jobPath(jobId)}/artifacts`)).artifacts;
