/** Hash routes (`#/jobs/<id>`, `#/history?status=failed&page=2`, `#/accounts?connected=3`) and
 * the history page's query. */

import type { JobListQuery, JobState } from "../api/types";
import { isJobState } from "./states";

export type Route =
  | { page: "create" }
  | { page: "job"; id: string }
  | { page: "history"; filter: HistoryFilter }
  | { page: "batches" }
  | { page: "batch"; id: string }
  | { page: "music" }
  | { page: "status" }
  | { page: "accounts"; connected: string; error: string }
  | { page: "missing"; path: string };

export interface HistoryFilter {
  status: JobState | "";
  q: string;
  page: number; // 1-based
}

export const PAGE_SIZE = 20;

/** A path segment decoded, or as written when it is not valid percent-encoding (`%E0`). */
function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

export function parseRoute(hash: string): Route {
  const [path, search = ""] = hash.replace(/^#/, "").split("?", 2);
  const parts = path.split("/").filter(Boolean).map(decodeSegment);
  if (parts.length === 0) return { page: "create" };
  if (parts[0] === "jobs" && parts.length === 2) return { page: "job", id: parts[1] };
  if (parts[0] === "batches" && parts.length === 2) return { page: "batch", id: parts[1] };
  if (parts[0] === "batches" && parts.length === 1) return { page: "batches" };
  if (parts[0] === "history" && parts.length === 1)
    return { page: "history", filter: parseFilter(search) };
  if (parts.length === 1 && (parts[0] === "music" || parts[0] === "status"))
    return { page: parts[0] };
  if (parts[0] === "accounts" && parts.length === 1) {
    // Where the server sends the browser back from Google: `connected=<account id>` or
    // `error=<message>` (form-encoded, `+` for a space).
    const params = new URLSearchParams(search);
    return { page: "accounts", connected: params.get("connected") ?? "", error: params.get("error") ?? "" };
  }
  return { page: "missing", path: `/${parts.join("/")}` };
}

export function parseFilter(search: string): HistoryFilter {
  const params = new URLSearchParams(search);
  const status = params.get("status") ?? "";
  const page = Number.parseInt(params.get("page") ?? "1", 10);
  return {
    status: isJobState(status) ? status : "",
    q: params.get("q") ?? "",
    page: Number.isFinite(page) && page >= 1 ? page : 1,
  };
}

/** The hash of the history page showing `filter`; defaults left out, so `#/history` is page 1. */
export function historyHash(filter: HistoryFilter): string {
  const params = new URLSearchParams();
  if (filter.status) params.set("status", filter.status);
  if (filter.q.trim()) params.set("q", filter.q.trim());
  if (filter.page > 1) params.set("page", String(filter.page));
  const search = params.toString();
  return search ? `#/history?${search}` : "#/history";
}

/** The GET /api/jobs query for `filter`: `status`, `q` (subject contains, any case), `limit`,
 * `offset`; the filters left empty are not sent. */
export function jobsQuery(filter: HistoryFilter, pageSize = PAGE_SIZE): JobListQuery {
  const query: JobListQuery = {};
  if (filter.status) query.status = filter.status;
  if (filter.q.trim()) query.q = filter.q.trim();
  query.limit = pageSize;
  query.offset = (Math.max(filter.page, 1) - 1) * pageSize;
  return query;
}

export function pageCount(total: number, pageSize = PAGE_SIZE): number {
  return Math.max(1, Math.ceil(total / pageSize));
}

/** "21–40 of 57", or "No jobs". */
export function rangeLabel(total: number, offset: number, shown: number): string {
  if (total === 0 || shown === 0) return "No jobs";
  return `${offset + 1}–${offset + shown} of ${total}`;
}

export const jobHash = (id: string) => `#/jobs/${encodeURIComponent(id)}`;

export const batchHash = (id: string) => `#/batches/${encodeURIComponent(id)}`;
