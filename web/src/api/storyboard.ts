/** Review before render: a job's storyboard, its edits, a footage search, and the render. */
import { getJson, postJson, request } from "./client";
import { jobPath } from "./jobs";
import type {
  ClipUploaded,
  FootageFound,
  PreviewQueued,
  RetryResponse,
  Storyboard,
  StoryboardEdit,
} from "./types";

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

/** Keep a clip of one's own for the storyboard (checked by its content on the server). */
export function uploadClip(jobId: string, file: File): Promise<ClipUploaded> {
  const body = new FormData();
  body.append("file", file, file.name);
  return request<ClipUploaded>(`${storyboardPath(jobId)}/clips`, { method: "POST", body });
}

/** Queue a draft of one scene (numbered from 1) as the storyboard is saved: a job of its own. */
export const previewScene = (jobId: string, number: number) =>
  postJson<PreviewQueued>(`${storyboardPath(jobId)}/scenes/${number}/preview`);

/** A failed or cancelled job that was reviewed: its storyboard open to edits again. */
export const reopenReview = (jobId: string) => postJson<RetryResponse>(`${jobPath(jobId)}/review`);
