/** URL tokens for what the browser loads by address (the video, the thumbnail, download links,
 * songs, the event stream), none of which can carry the API key as a header. With a key saved,
 * POST /api/tokens gives a token for a path scope (a job, the songs); it is kept here and asked
 * for again once half its life is gone. Without a key the address goes as it is. */
import { loadApiKey, postJson } from "./client";
import type { TokenResponse } from "./types";

export interface HeldToken {
  token: string | null;
  /** When to ask again (ms since the epoch); Infinity: never (no key, or none needed). */
  renewAt: number;
}

const NOT_NEEDED: HeldToken = { token: null, renewAt: Infinity };
// After a failed ask (the server unreachable, the key refused): try again this much later.
export const RETRY_AFTER_MS = 30_000;

let heldFor = ""; // the API key the tokens below belong to
const held = new Map<string, HeldToken>();
const asking = new Map<string, Promise<HeldToken>>();

/** The token for `scope`: the one held while fresh, else a new one (one request however many
 * ask at once). Never rejects: when none can be had, a null token and a time to try again. */
export function scopeToken(scope: string, now: () => number = Date.now): Promise<HeldToken> {
  const key = loadApiKey();
  if (key !== heldFor) {
    held.clear();
    asking.clear();
    heldFor = key;
  }
  if (!key) return Promise.resolve(NOT_NEEDED);
  const fresh = held.get(scope);
  if (fresh && now() < fresh.renewAt) return Promise.resolve(fresh);
  let pending = asking.get(scope);
  if (!pending) {
    pending = ask(scope, key, now);
    asking.set(scope, pending);
  }
  return pending;
}

async function ask(scope: string, key: string, now: () => number): Promise<HeldToken> {
  const askedAt = now();
  let answer: HeldToken;
  let failed = false;
  try {
    const body = await postJson<TokenResponse>("/api/tokens", { scope });
    answer =
      body.token && body.expiresInSeconds
        ? { token: body.token, renewAt: askedAt + body.expiresInSeconds * 500 }
        : NOT_NEEDED; // the server has no key
  } catch {
    failed = true;
    answer = { token: null, renewAt: askedAt + RETRY_AFTER_MS };
  }
  if (heldFor === key) {
    asking.delete(scope);
    if (!failed) held.set(scope, answer);
  }
  return answer;
}

/** `path` with `token` added as a query parameter; `path` itself when there is none. */
export function withToken(path: string, token: string | null): string {
  if (!token) return path;
  return `${path}${path.includes("?") ? "&" : "?"}token=${encodeURIComponent(token)}`;
}

export async function signedUrl(path: string, scope: string): Promise<string> {
  return withToken(path, (await scopeToken(scope)).token);
}
