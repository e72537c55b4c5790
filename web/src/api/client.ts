/** What every API call shares: the fetch of a JSON envelope ("status", "message"), ApiError and
 * the messages to show, and the optional API key kept in the browser (with who to tell when it
 * changes). */

export const API_KEY_STORAGE = "moneyprinter.apiKey";

/** An API answer with `status: "error"` (or an HTTP failure), carrying the message to show. */
export class ApiError extends Error {
  constructor(
    message: string,
    readonly httpStatus: number,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

/** The message to show for a failed response: the API's own `message` when the body has one. */
export function errorMessage(httpStatus: number, body: unknown, statusText = ""): string {
  if (body && typeof body === "object" && "message" in body) {
    const message = (body as { message: unknown }).message;
    if (typeof message === "string" && message.trim()) return message;
  }
  if (httpStatus === 0) return "The server cannot be reached.";
  if (httpStatus === 413) return "The file is too large.";
  const reason = statusText ? ` ${statusText}` : "";
  return `Request failed (HTTP ${httpStatus}${reason}).`;
}

/** Any thrown value as a sentence for the page. */
export function describeError(error: unknown): string {
  if (error instanceof ApiError) return error.message;
  if (error instanceof TypeError) return "The server cannot be reached.";
  if (error instanceof Error && error.message) return error.message;
  return "Something went wrong.";
}

export function loadApiKey(storage: Pick<Storage, "getItem"> | undefined = safeStorage()): string {
  return storage?.getItem(API_KEY_STORAGE) ?? "";
}

const keyListeners = new Set<() => void>();

export function saveApiKey(key: string, storage: Storage | undefined = safeStorage()): void {
  if (!storage) return;
  if (key.trim()) storage.setItem(API_KEY_STORAGE, key.trim());
  else storage.removeItem(API_KEY_STORAGE);
  for (const listener of keyListeners) listener();
}

/** Call `listener` after each saveApiKey (what was refused may work now); returns the function
 * that stops. */
export function onApiKeyChange(listener: () => void): () => void {
  keyListeners.add(listener);
  return () => keyListeners.delete(listener);
}

/** The headers every request carries: the key as `X-API-Key` when one is set (a server with a
 * key wants it on every route but the health check and the page's own files). */
export function authHeaders(key: string = loadApiKey()): Record<string, string> {
  return key ? { "X-API-Key": key } : {};
}

export function safeStorage(): Storage | undefined {
  try {
    return typeof localStorage === "undefined" ? undefined : localStorage;
  } catch {
    return undefined; // storage disabled (privacy mode): nothing is remembered
  }
}

type Envelope = { status?: string; message?: string | null };

/** Fetch a JSON envelope; throws ApiError with the API's message on any failure. */
export async function request<T extends Envelope>(
  path: string,
  init: RequestInit = {},
): Promise<T> {
  let response: Response;
  try {
    response = await fetch(path, {
      ...init,
      headers: { Accept: "application/json", ...authHeaders(), ...(init.headers ?? {}) },
    });
  } catch {
    throw new ApiError(errorMessage(0, null), 0);
  }
  let body: unknown = null;
  try {
    body = await response.json();
  } catch {
    body = null; // a proxy's HTML error page, an empty body
  }
  if (!response.ok || (body as Envelope | null)?.status === "error" || body === null) {
    throw new ApiError(errorMessage(response.status, body, response.statusText), response.status);
  }
  return body as T;
}

export const getJson = <T extends Envelope>(path: string) => request<T>(path);

export const postJson = <T extends Envelope>(path: string, body?: unknown) =>
  request<T>(path, {
    method: "POST",
    headers: body === undefined ? {} : { "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });

export const deleteJson = <T extends Envelope>(path: string) =>
  request<T>(path, { method: "DELETE" });
