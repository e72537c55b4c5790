/** Review before render: a job's storyboard, its edits, a footage search, and the render. */
import { getJson, postJson, request } from "./client";
import { jobPath } from "./jobs";
import type { FootageFound, RetryResponse, Storyboard, StoryboardEdit } from "./types";

const storyboardPath = (jobId: string) => `${jobPath(jobId)}/storyboard`;

export const getStoryboard = (jobId: string) => getJson<Storyboard>(storyboardPath(jobId));

export const editStoryboard = (jobId: string, edit: StoryboardEdit) =>
  request<Storyboard>(storyboardPath(jobId), {
    method: "PATCH",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(edit),
  });

export const searchFootage = (jobId: string, query: string) =>
  postJson<FootageFound>(`${storyboardPath(jobId)}/search`, { query });

export const renderStoryboard = (jobId: string) => postJson<RetryResponse>(`${jobPath(jobId)}/render`);
