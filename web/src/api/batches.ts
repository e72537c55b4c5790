/** Batches: queue many videos at once, follow them, cancel and retry them together. */
import { getJson, postJson } from "./client";
import type { BatchAction, BatchBody, BatchCreated, BatchPage, BatchResponse } from "./types";

export const batchPath = (batchId: string) => `/api/batches/${encodeURIComponent(batchId)}`;

export const createBatch = (body: BatchBody) => postJson<BatchCreated>("/api/batches", body);

export const listBatches = (limit = 20, offset = 0) =>
  getJson<BatchPage>(`/api/batches?limit=${limit}&offset=${offset}`);

export const getBatch = (batchId: string) => getJson<BatchResponse>(batchPath(batchId));

export const cancelBatch = (batchId: string) => postJson<BatchAction>(`${batchPath(batchId)}/cancel`);

export const retryBatch = (batchId: string) => postJson<BatchAction>(`${batchPath(batchId)}/retry`);
